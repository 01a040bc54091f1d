// Where utility breaks: the layer × strength calibration grid as two heatmaps — preference gain
// and utility drop, each from its layer's unsteered cell — with the recommended cell outlined
// and the current (layer, strength) marked. Clicking a cell asks the host to move there.
// Plain SVG.
//
// Data contract (`Session.calibrate(...)` of the wasm core, or the `calibration.json` that
// `steerscope ship-updates` writes for the first paint):
//   { method, budget,
//     cells:   [{ layer, strength, pref_odds, util_odds | null, raw_multiple, norm_fraction }],
//     changes: [{ layer, strength, pref_gain, util_drop | null }],
//     recommendation: { Ok: { layer, strength, pref_gain, util_drop, … } } | { Err: string } }
// Options: { layer, strength (the current cell, marked), cell: [w, h] in px }.
// Events: 'cell' {detail: {layer, strength}} (bubbling) when a cell is clicked or activated
//   with Enter.
// DOM for tests: cells are <rect class="cal"> with data-metric ('pref_gain' | 'util_drop'),
//   data-layer, data-strength, data-value; the recommendation is [data-field=recommendation].
import { diverging, el, emit, fmt, readout, svg } from './common.js';

/**
 * The data contract above (`recommendation` is serde's Result: `Ok` or `Err`), the options,
 * and the event's detail.
 * @typedef {{ layer: number, strength: number, pref_odds: number, util_odds: number | null,
 *   raw_multiple: number, norm_fraction: number }} Cell
 * @typedef {{ layer: number, strength: number, pref_gain: number, util_drop: number | null }} Change
 * @typedef {Cell & { pref_gain: number, util_drop: number }} Recommendation
 * @typedef {{ method: string, budget: number, cells: Cell[], changes: Change[],
 *   recommendation?: { Ok?: Recommendation, Err?: string } }} Calibration
 * @typedef {{ layer: number | null, strength: number | null, cell: [number, number] }} HeatmapOptions
 * @typedef {{ layer: number, strength: number }} CellDetail
 */

export class HeatmapView {
  /** @param {HTMLElement} container @param {Partial<HeatmapOptions>} [options] */
  constructor(container, options = {}) {
    this.container = container;
    /** @type {HeatmapOptions} */
    this.options = { layer: null, strength: null, cell: [34, 20], ...options };
    this.root = el('div', { class: 'ss-view ss-heatmap' });
    container.append(this.root);
  }

  /** @param {Calibration} data @param {Partial<HeatmapOptions>} [options] */
  update(data, options = {}) {
    Object.assign(this.options, options);
    this.data = data;
    const rec = data.recommendation?.Ok || null;
    const recText = rec
      ? `recommended under a utility budget of ${data.budget}: layer ${rec.layer}, strength ${rec.strength} ` +
        `(preference +${fmt(rec.pref_gain, 2)}, utility −${fmt(rec.util_drop, 2)})`
      : `no recommendation: ${data.recommendation?.Err ?? 'not computed'}`;
    this.root.replaceChildren(
      el('h3', { text: `Where utility breaks: ${data.method} at every layer × strength` }),
      el('p', { dataset: { field: 'recommendation', layer: rec?.layer, strength: rec?.strength }, text: recText }),
      el('div', { class: 'pair' },
        this.grid('pref_gain', 'preference gain', rec, 1),
        this.grid('util_drop', 'utility drop', rec, -1)),
    );
    this.readout = readout(this.root, 'hover a cell; click it to steer there');
  }

  /**
   * One heatmap of `metric` (colour sign: +1 = more is red, −1 = more is blue).
   * @param {'pref_gain' | 'util_drop'} metric @param {string} title
   * @param {Recommendation | null} rec @param {number} sign
   */
  grid(metric, title, rec, sign) {
    const d = /** @type {Calibration} */ (this.data);
    const layers = [...new Set(d.changes.map((c) => c.layer))].sort((a, b) => a - b);
    const strengths = [...new Set(d.changes.map((c) => c.strength))].sort((a, b) => a - b);
    const at = new Map(d.changes.map((c) => [`${c.layer}|${c.strength}`, c]));
    const max = Math.max(1e-9, ...d.changes.map((c) => Math.abs(c[metric] ?? 0)));
    const [cw, ch] = this.options.cell;
    const left = 54;
    const top = 22;
    const width = left + strengths.length * cw + 8;
    const height = top + layers.length * ch + 34;
    const s = svg('svg', { width, height, role: 'img', 'aria-label': `${title} heatmap` });
    s.append(svg('text', { x: left, y: 12, class: 'label', text: `${title} (±${max.toFixed(2)})` }));
    layers.forEach((layer, i) => {
      s.append(svg('text', { x: left - 6, y: top + i * ch + ch * 0.7, class: 'tick', 'text-anchor': 'end', text: `layer ${layer}` }));
      strengths.forEach((m, j) => {
        const c = at.get(`${layer}|${m}`);
        const v = c?.[metric];
        const current = layer === this.options.layer && m === this.options.strength;
        const recommended = rec && rec.layer === layer && rec.strength === m;
        const text = `layer ${layer}, strength ${m}: preference gain ${fmt(c?.pref_gain, 2)}, utility drop ${fmt(c?.util_drop, 2)}`;
        const activate = () => emit(this.container, 'cell', { layer, strength: m });
        s.append(svg('rect', {
          class: 'cal' + (current ? ' current' : '') + (recommended ? ' recommended' : ''),
          x: left + j * cw, y: top + i * ch, width: cw - 1, height: ch - 1,
          fill: diverging(v == null ? null : sign * v, max),
          stroke: recommended ? '#111' : current ? '#f0a000' : 'none', 'stroke-width': recommended || current ? 2 : 0,
          tabindex: 0, role: 'button', 'aria-label': text,
          dataset: { metric, layer, strength: m, value: v ?? '' },
          on: {
            // the readout exists by then: update() adds it right after the grids
            mouseenter: () => { /** @type {HTMLDivElement} */ (this.readout).textContent = text; },
            click: activate,
            keydown: (e) => { if (e.key === 'Enter' || e.key === ' ') activate(); },
          },
        }, svg('title', { text })));
      });
    });
    strengths.forEach((m, j) => {
      s.append(svg('text', { x: left + j * cw + cw / 2, y: top + layers.length * ch + 14, class: 'tick', 'text-anchor': 'middle', text: m }));
    });
    s.append(svg('text', { x: left + (strengths.length * cw) / 2, y: top + layers.length * ch + 30, class: 'label', 'text-anchor': 'middle', text: 'strength' }));
    return s;
  }
}

/** @param {HTMLElement} container @param {Calibration} data @param {Partial<HeatmapOptions>} [options] */
export function render(container, data, options) {
  const v = new HeatmapView(container, options);
  v.update(data);
  return v;
}
