// Leaving the manifold: for one update's sweep, utility against strength with the off-manifold
// score beside it (right axis), the current point's off-manifold score in words, and a scatter
// of off-manifold score against utility drop over the sweep with its rank correlation — the
// paper's account of why utility falls, measured. Plain SVG.
//
// Data contract: one curve of `Session.frontier()` (a `methods[i]` entry):
//   { name, site,
//     points:   [{ strength, util_odds | null, off_manifold | null, pref_odds, … }],
//     manifold: [{ strength, off_manifold, util_drop }],          // where both are defined
//     manifold_vs_utility_drop: number | null }                   // Spearman ρ over `manifold`
// Options: { strength (the current point, ringed), width, height }.
// Events: 'point' {detail: {name, strength}} when a point is clicked.
// DOM for tests: the ρ text is [data-field=rho] (data-value); scatter points are
//   <circle class="mp"> with data-strength, data-off, data-drop; the current point's score is
//   [data-field=current-off] (data-value).
import { axes, el, emit, extent, fmt, readout, scale, svg } from './common.js';

/**
 * The data contract above (a frontier curve), the options, and the event's detail.
 * @typedef {import('./frontier.js').Curve} Curve
 * @typedef {import('./frontier.js').Point} Point
 * @typedef {import('./frontier.js').PointDetail} PointDetail
 * @typedef {import('./common.js').Box} Box
 * @typedef {import('./common.js').Scale} Scale
 * @typedef {{ strength: number, width: number, height: number }} ManifoldOptions
 */

export class ManifoldView {
  /** @param {HTMLElement} container @param {Partial<ManifoldOptions>} [options] */
  constructor(container, options = {}) {
    this.container = container;
    /** @type {ManifoldOptions} */
    this.options = { strength: 0, width: 300, height: 220, ...options };
    this.root = el('div', { class: 'ss-view ss-manifold' });
    container.append(this.root);
  }

  /** @param {Curve} data @param {Partial<ManifoldOptions>} [options] */
  update(data, options = {}) {
    Object.assign(this.options, options);
    this.data = data;
    const d = data;
    const current = d.points.find((p) => p.strength === this.options.strength);
    const rho = d.manifold_vs_utility_drop;
    this.root.replaceChildren(
      el('h3', { text: `Leaving the manifold: ${d.name}` }),
      el('p', {},
        'off-manifold score at strength ', String(this.options.strength), ': ',
        el('strong', { dataset: { field: 'current-off', value: current?.off_manifold ?? '' }, text: fmt(current?.off_manifold, 2) }),
        ' (1 = as far from the unsteered activations\' principal subspace as unsteered text itself); ',
        'Spearman ρ(off-manifold score, utility drop) = ',
        el('strong', { dataset: { field: 'rho', value: rho ?? '' }, text: fmt(rho, 2) }),
        ` over ${d.manifold.length} points`),
      el('div', { class: 'pair' }, this.byStrength(d), this.scatter(d)),
    );
    this.readout = readout(this.root, 'hover a point');
  }

  /** Utility (left axis) and off-manifold score (right axis) against strength. @param {Curve} d */
  byStrength(d) {
    const { width, height, strength } = this.options;
    const pts = d.points;
    /** @type {Box} */
    const box = [48, 12, width - 40, height - 40];
    const x = scale(extent(pts.map((p) => p.strength)), [box[0], box[2]]);
    const yu = scale(extent(pts.map((p) => p.util_odds)), [box[3], box[1]]);
    const yo = scale(extent(pts.map((p) => p.off_manifold).concat([1])), [box[3], box[1]]);
    const s = svg('svg', { width, height, role: 'img', 'aria-label': 'utility and off-manifold score against strength' });
    const g = svg('g');
    axes(g, { x, y: yu, box, xLabel: 'strength', yLabel: 'utility log-odds' });
    s.append(g);
    /** @param {'util_odds' | 'off_manifold'} key @param {Scale} y @param {string} colour @param {string} [dash] */
    const line = (key, y, colour, dash) => {
      const ok = /** @type {(Point & Record<typeof key, number>)[]} */ (pts.filter((p) => p[key] != null && Number.isFinite(p[key])));
      s.append(svg('path', { d: ok.map((p, i) => `${i ? 'L' : 'M'}${x(p.strength)},${y(p[key])}`).join(''),
        fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-dasharray': dash }));
      for (const p of ok) {
        const here = p.strength === strength;
        s.append(svg('circle', { cx: x(p.strength), cy: y(p[key]), r: here ? 6 : 3, fill: colour,
          class: key === 'util_odds' ? 'up' : 'op', dataset: { strength: p.strength, value: p[key] },
          on: { mouseenter: () => this.say(`strength ${p.strength}: utility ${fmt(p.util_odds)}, off-manifold ${fmt(p.off_manifold, 2)}`) } }));
      }
    };
    line('util_odds', yu, '#d1691f');
    line('off_manifold', yo, '#7a3fb5', '4 3');
    s.append(svg('text', { x: box[2] + 4, y: box[1] + 8, class: 'tick', fill: '#7a3fb5', text: `off ${fmt(yo.domain[1], 1)}` }));
    s.append(svg('text', { x: box[2] + 4, y: box[3], class: 'tick', fill: '#7a3fb5', text: fmt(yo.domain[0], 1) }));
    return s;
  }

  /** Off-manifold score (x) against utility drop (y), one point per strength. @param {Curve} d */
  scatter(d) {
    const { width, height, strength } = this.options;
    const mp = d.manifold;
    /** @type {Box} */
    const box = [48, 12, width - 12, height - 40];
    const x = scale(extent(mp.map((p) => p.off_manifold)), [box[0], box[2]]);
    const y = scale(extent(mp.map((p) => p.util_drop)), [box[3], box[1]]);
    const s = svg('svg', { width, height, role: 'img', 'aria-label': 'off-manifold score against utility drop' });
    const g = svg('g');
    axes(g, { x, y, box, xLabel: 'off-manifold score', yLabel: 'utility drop' });
    s.append(g);
    for (const p of mp) {
      const text = `strength ${p.strength}: off-manifold ${fmt(p.off_manifold, 2)}, utility drop ${fmt(p.util_drop)}`;
      s.append(svg('circle', {
        class: 'mp' + (p.strength === strength ? ' current' : ''), cx: x(p.off_manifold), cy: y(p.util_drop),
        r: p.strength === strength ? 6 : 4, fill: p.strength < 0 ? '#2860c8' : p.strength > 0 ? '#d64030' : '#fff',
        stroke: '#333', dataset: { strength: p.strength, off: p.off_manifold, drop: p.util_drop },
        on: { mouseenter: () => this.say(text), click: () => emit(this.container, 'point', { name: d.name, strength: p.strength }) },
      }, svg('title', { text })));
    }
    return s;
  }

  /** @param {string} text */
  say(text) {
    if (this.readout) this.readout.textContent = text;
  }
}

/** @param {HTMLElement} container @param {Curve} data @param {Partial<ManifoldOptions>} [options] */
export function render(container, data, options) {
  const v = new ManifoldView(container, options);
  v.update(data);
  return v;
}
