// Frontier view: preference (x) against utility (y) for several methods at once, each a curve
// over strength, with the random direction (the noise floor) and the prompting baseline as a
// point; the current strength is ringed on every curve. Plain SVG.
//
// Data contract (`Session.frontier()` / `measure_frontier()` of the wasm core, plus the
// prompting baseline from `Session.score_prompting()`):
//   {
//     layer: number, split: 'test', current: string | null,
//     methods: [{ name: string, site: string,
//                 points: [{ strength, pref_odds, util_odds | null, off_manifold | null, n_pairs, … }],
//                 manifold: […], manifold_vs_utility_drop: number | null }],
//     random:  [same shape as a method, name 'random@<site>'],
//     prompting: { pref_odds, util_odds | null, instruction } | null,   // optional
//   }
// Options: { strength: number (the one ringed), shown: string[] | null (names to draw; null =
//   all), width, height }.
// Events (bubbling, from the container): 'toggle' {detail: {name, shown: string[]}} when a
//   legend entry is clicked; 'point' {detail: {name, strength}} when a point is clicked.
// DOM for tests: every point is a <circle class="pt"> with data-method, data-strength,
//   data-pref, data-util; the legend lists each curve as <li data-method> (data-shown).
import { axes, colourOf, el, emit, extent, fmt, readout, scale, svg } from './common.js';

/**
 * The data contract above, the options, and the events' details.
 * @typedef {{ strength: number, pref_odds: number, util_odds: number | null, off_manifold: number | null,
 *   n_pairs: number, [more: string]: unknown }} Point
 * @typedef {{ strength: number, off_manifold: number, util_drop: number }} ManifoldPoint
 * @typedef {{ name: string, site: string, points: Point[], manifold: ManifoldPoint[],
 *   manifold_vs_utility_drop: number | null }} Curve
 * @typedef {{ pref_odds: number, util_odds: number | null, instruction: string }} Prompting
 * @typedef {{ layer: number, split: string, current: string | null, methods: Curve[], random: Curve[],
 *   prompting?: Prompting | null }} FrontierData
 * @typedef {{ strength: number, shown: string[] | null, width: number, height: number }} FrontierOptions
 * A curve as listed, `kind` 'method' or 'random'.
 * @typedef {Curve & { kind: string }} Listed
 * @typedef {{ name: string, shown: string[] }} ToggleDetail
 * @typedef {{ name: string, strength: number }} PointDetail
 * @typedef {import('./common.js').Box} Box
 */

export class FrontierView {
  /** @param {HTMLElement} container @param {Partial<FrontierOptions>} [options] */
  constructor(container, options = {}) {
    this.container = container;
    /** @type {FrontierOptions} */
    this.options = { strength: 0, shown: null, width: 560, height: 360, ...options };
    this.root = el('div', { class: 'ss-view ss-frontier' });
    this.plot = el('div', { class: 'plot' });
    this.legend = el('ul', { class: 'legend' });
    this.root.append(el('h3', { text: 'Frontier: preference against utility' }), this.plot, this.legend);
    this.readout = readout(this.root, 'hover a point for its numbers');
    container.append(this.root);
    /** @type {FrontierData | null} */
    this.data = null;
  }

  /** Redraw with new data (and optionally new options). @param {FrontierData} data @param {Partial<FrontierOptions>} [options] */
  update(data, options = {}) {
    this.data = data;
    Object.assign(this.options, options);
    this.draw();
  }

  /** @returns {Listed[]} */
  curves() {
    const d = this.data || { methods: [], random: [] };
    return [...d.methods.map((c) => ({ ...c, kind: 'method' })), ...(d.random || []).map((c) => ({ ...c, kind: 'random' }))]
      .filter((c) => c.points.some((p) => p.strength !== 0));
  }

  /** @param {string} name */
  isShown(name) {
    return !this.options.shown || this.options.shown.includes(name);
  }

  draw() {
    const { width, height, strength } = this.options;
    const curves = this.curves();
    const shown = curves.filter((c) => this.isShown(c.name));
    const prompting = this.data?.prompting;
    const all = shown.flatMap((c) => c.points);
    const xs = all.map((p) => p.pref_odds).concat(prompting ? [prompting.pref_odds] : []);
    const ys = all.map((p) => p.util_odds).concat(prompting ? [prompting.util_odds] : []);
    /** @type {Box} */
    const box = [56, 12, width - 12, height - 42];
    const x = scale(extent(xs), [box[0], box[2]]);
    const y = scale(extent(ys), [box[3], box[1]]);
    const s = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': 'preference against utility for each method' });
    const g = svg('g');
    axes(g, { x, y, box, xLabel: 'preference log-odds (held-out)', yLabel: 'utility log-odds' });
    s.append(g);
    for (const c of shown) {
      const colour = c.kind === 'random' ? '#888' : colourOf(c.name);
      const pts = /** @type {(Point & { util_odds: number })[]} */ (c.points.filter((p) => p.util_odds != null && Number.isFinite(p.util_odds)));
      const path = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.pref_odds).toFixed(1)},${y(p.util_odds).toFixed(1)}`).join('');
      s.append(svg('path', { d: path, fill: 'none', stroke: colour, 'stroke-width': 2,
        'stroke-dasharray': c.kind === 'random' ? '3 3' : null, dataset: { method: c.name } }));
      for (const p of pts) {
        const ringed = p.strength === strength;
        const dot = svg('circle', {
          class: 'pt' + (ringed ? ' current' : ''), cx: x(p.pref_odds), cy: y(p.util_odds), r: ringed ? 7 : 4,
          fill: p.strength === 0 ? '#fff' : colour, stroke: colour, 'stroke-width': ringed ? 3 : 1.5,
          dataset: { method: c.name, strength: p.strength, pref: p.pref_odds, util: p.util_odds },
          on: {
            mouseenter: () => { this.readout.textContent = describe(c.name, p); },
            click: () => emit(this.container, 'point', { name: c.name, strength: p.strength }),
          },
        }, svg('title', { text: describe(c.name, p) }));
        s.append(dot);
      }
    }
    if (prompting && prompting.util_odds != null && Number.isFinite(prompting.util_odds)) {
      const px = x(prompting.pref_odds);
      const py = y(prompting.util_odds);
      const text = `prompting baseline (no steering; system prompt "${prompting.instruction}"): ` +
        `preference ${fmt(prompting.pref_odds)}, utility ${fmt(prompting.util_odds)}`;
      s.append(svg('path', {
        class: 'prompting', d: `M${px - 6},${py}L${px},${py - 6}L${px + 6},${py}L${px},${py + 6}Z`,
        fill: '#2a9d4b', dataset: { pref: prompting.pref_odds, util: prompting.util_odds },
        on: { mouseenter: () => { this.readout.textContent = text; } },
      }, svg('title', { text })));
    }
    this.plot.replaceChildren(s);
    this.drawLegend(curves, prompting);
  }

  /** @param {Listed[]} curves @param {Prompting | null | undefined} prompting */
  drawLegend(curves, prompting) {
    const items = curves.map((c) => {
      const on = this.isShown(c.name);
      const rho = c.manifold_vs_utility_drop;
      return el('li', {
        dataset: { method: c.name, shown: on }, class: on ? '' : 'off', tabindex: 0, role: 'button',
        on: { click: () => this.toggle(c.name, curves), keydown: (e) => { if (e.key === 'Enter') this.toggle(c.name, curves); } },
      }, el('span', { class: 'swatch', style: `background:${c.kind === 'random' ? '#888' : colourOf(c.name)}` }),
      `${c.name} (${c.points.length} points${rho == null ? '' : `, ρ(off-manifold, utility drop) ${fmt(rho, 2)}`})`);
    });
    if (prompting) items.push(el('li', { dataset: { method: 'prompting' } }, el('span', { class: 'swatch diamond' }), 'prompting baseline'));
    this.legend.replaceChildren(...items);
  }

  /** @param {string} name @param {Listed[]} curves */
  toggle(name, curves) {
    const names = curves.map((c) => c.name);
    const shown = new Set(this.options.shown || names);
    if (shown.has(name)) shown.delete(name); else shown.add(name);
    this.options.shown = names.filter((n) => shown.has(n));
    this.draw();
    emit(this.container, 'toggle', { name, shown: this.options.shown });
  }
}

/** @param {string} name @param {Point} p */
function describe(name, p) {
  return `${name} at strength ${p.strength}: preference ${fmt(p.pref_odds)}, utility ${fmt(p.util_odds)}, ` +
    `off-manifold ${fmt(p.off_manifold, 2)} (${p.n_pairs} pairs)`;
}

/** One-shot form: draw `data` into `container`.
 *  @param {HTMLElement} container @param {FrontierData} data @param {Partial<FrontierOptions>} [options] */
export function render(container, data, options) {
  const v = new FrontierView(container, options);
  v.update(data);
  return v;
}
