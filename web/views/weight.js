// The update as a weight change: for one update, the (ΔW, Δb) it induces on the sublayer that
// writes its site — which matrix, shape, rank, singular values, size next to the weight's own —
// with the line of the unified formula Δh = m·(ΔW·u + Δb) it instantiates and a heatmap slice of
// ΔW beside W (a vector: the Δb column only). Several side by side show a vector, a LoRA and a
// local weight edit as the same kind of object. Plain SVG.
//
// Data contract (`Session.weight_change(name, strength, top_k, rows, cols)` of the wasm core):
//   { name, layer, site, form: 'vector' | 'low-rank' | 'dense', formula: string, source: string,
//     writer: { tensor, name, shape: [out, in] } | null, strength: number,
//     delta_w_shape: [out, in] | null, delta_b_len: number | null, rank: number,
//     stable_rank: number | null, singular_values: number[], singular_energy: number | null,
//     delta_w_norm, delta_b_norm, weight_norm: number | null, relative: number | null,
//     mean_hidden_norm: number,
//     slice: { rows: number[], cols: number[], delta_w: number[][], weight: number[][], delta_b: number[] } }
// Options: { cell: 9 (heatmap cell size in px) }.
// Events: 'cell' {detail: {row, col, delta_w, weight}} when a heatmap cell is clicked.
// DOM for tests: [data-field=<key>] cells hold each number (data-value = the raw number);
//   heatmap cells are <rect class="hm"> with data-row, data-col, data-delta, data-weight.
import { diverging, el, emit, fmt, readout, svg } from './common.js';

/**
 * The data contract above, the options, and the event's detail.
 * @typedef {{ tensor: string, name: string, shape: [number, number] }} Writer
 * @typedef {{ rows: number[], cols: number[], delta_w: number[][], weight: number[][], delta_b: number[] }} Slice
 * @typedef {{ name: string, layer: number, site: string, form: 'vector' | 'low-rank' | 'dense', formula: string,
 *   source: string, writer: Writer | null, strength: number, delta_w_shape: [number, number] | null,
 *   delta_b_len: number | null, rank: number, stable_rank: number | null, singular_values: number[],
 *   singular_energy: number | null, delta_w_norm: number, delta_b_norm: number, weight_norm: number | null,
 *   relative: number | null, mean_hidden_norm: number, slice: Slice }} WeightChange
 * @typedef {{ cell: number }} WeightOptions
 * @typedef {{ row: number, col: number, delta_w: number, weight: number }} WeightCellDetail
 */

export class WeightView {
  /** @param {HTMLElement} container @param {Partial<WeightOptions>} [options] */
  constructor(container, options = {}) {
    this.container = container;
    /** @type {WeightOptions} */
    this.options = { cell: 9, ...options };
    this.root = el('div', { class: 'ss-view ss-weight' });
    container.append(this.root);
  }

  /** @param {WeightChange} data @param {Partial<WeightOptions>} [options] */
  update(data, options = {}) {
    Object.assign(this.options, options);
    this.data = data;
    const d = data;
    const writer = d.writer ? `${d.writer.name} = ${d.writer.tensor} (${d.writer.shape.join('×')})` : 'none (not affine)';
    /** @param {string} label @param {string} key @param {string | number | null} value @param {string} [text] */
    const row = (label, key, value, text) => el('tr', {},
      el('th', { text: label }),
      el('td', { dataset: { field: key, value }, text: text ?? fmt(/** @type {number | null} */ (value)) }));
    const table = el('table', { class: 'facts' },
      row('touches', 'writer', d.writer?.tensor ?? '', writer),
      row('u (input)', 'source', d.source, d.source),
      row('ΔW shape', 'delta_w_shape', d.delta_w_shape?.join('×') ?? '', d.delta_w_shape ? d.delta_w_shape.join(' × ') : '0 (no ΔW)'),
      row('rank ΔW', 'rank', d.rank, String(d.rank)),
      row('stable rank ‖ΔW‖²/σ₁²', 'stable_rank', d.stable_rank, fmt(d.stable_rank, 2)),
      row('‖ΔW‖_F', 'delta_w_norm', d.delta_w_norm, fmt(d.delta_w_norm, 4)),
      row('‖W‖_F', 'weight_norm', d.weight_norm, fmt(d.weight_norm, 2)),
      row('‖ΔW‖ / ‖W‖', 'relative', d.relative, d.relative == null ? '—' : `${fmt(d.relative * 100, 3)} %`),
      row('‖Δb‖', 'delta_b_norm', d.delta_b_norm, `${fmt(d.delta_b_norm, 3)} (layer's mean hidden norm ${fmt(d.mean_hidden_norm, 1)})`),
    );
    this.readout = null;
    this.root.replaceChildren(
      el('h3', {}, `${d.name}: `, el('span', { class: 'form', dataset: { form: d.form }, text: d.form }),
        ` at layer ${d.layer} (${d.site}), strength ${d.strength}`),
      el('p', { class: 'formula', dataset: { field: 'formula' }, text: d.formula }),
      table,
      this.spectrum(d),
      this.heatmap(d),
    );
    this.readout = readout(this.root, 'hover the heatmap for ΔW and W at a cell');
  }

  /** Bars of the listed singular values (σ₁ first). @param {WeightChange} d */
  spectrum(d) {
    const box = el('div', { class: 'spectrum' });
    const s = d.singular_values;
    if (!s.length) {
      box.append(el('p', { class: 'note', text: 'ΔW = 0: no singular values — the whole update is the bias Δb.' }));
      return box;
    }
    const w = 260;
    const h = 70;
    const bw = Math.max(2, Math.min(16, Math.floor(w / s.length) - 1));
    const g = svg('svg', { width: w, height: h + 14, role: 'img', 'aria-label': 'singular values of ΔW' });
    s.forEach((v, i) => {
      const bh = Math.max(1, (v / s[0]) * h);
      g.append(svg('rect', { class: 'sv', x: i * (bw + 1), y: h - bh, width: bw, height: bh, fill: '#1f6fd1',
        dataset: { index: i, value: v } }, svg('title', { text: `σ${i + 1} = ${v.toPrecision(4)}` })));
    });
    g.append(svg('text', { x: 0, y: h + 12, class: 'tick', text: `σ₁ = ${s[0].toPrecision(3)}` }));
    const energy = d.singular_energy == null ? '' : `, ${fmt(d.singular_energy * 100, 1)} % of ‖ΔW‖² in these`;
    box.append(el('div', { class: 'caption', text: `top ${s.length} singular values of ΔW${energy}` }), g);
    return box;
  }

  /** ΔW beside W at the slice's rows and columns, and the Δb column. @param {WeightChange} d */
  heatmap(d) {
    const { rows, cols, delta_w: dw, weight, delta_b: db } = d.slice;
    const c = this.options.cell;
    const maxAbs = (/** @type {number[][]} */ m) => Math.max(1e-30, ...m.flat().map(Math.abs));
    const [mdw, mw, mdb] = [maxAbs(dw), maxAbs(weight), maxAbs([db])];
    const gap = 16;
    const wide = cols.length;
    const width = (wide ? 2 * wide * c + gap * 2 : 0) + c + 60;
    const height = rows.length * c + 30;
    const g = svg('svg', { width, height, role: 'img', 'aria-label': 'heatmap of ΔW, W and Δb' });
    /** @type {[string, number[][], number, number][]} */
    const panels = [];
    if (wide) panels.push(['ΔW', dw, mdw, 0], ['W', weight, mw, wide * c + gap]);
    const x0 = wide ? 2 * (wide * c + gap) : 0;
    for (const [label, m, max, off] of panels) {
      g.append(svg('text', { x: off, y: 10, class: 'label', text: `${label} (±${max.toPrecision(2)})` }));
      rows.forEach((r, i) => cols.forEach((col, j) => {
        const rect = svg('rect', {
          class: label === 'ΔW' ? 'hm' : 'hm-w', x: off + j * c, y: 16 + i * c, width: c - 1, height: c - 1,
          fill: diverging(m[i][j], max),
          dataset: { row: r, col, delta: dw[i][j], weight: weight[i]?.[j] },
          on: {
            mouseenter: () => this.say(`row ${r}, column ${col}: ΔW ${dw[i][j].toPrecision(3)}, W ${weight[i][j].toPrecision(3)}`),
            click: () => emit(this.container, 'cell', { row: r, col, delta_w: dw[i][j], weight: weight[i][j] }),
          },
        });
        g.append(rect);
      }));
    }
    g.append(svg('text', { x: x0, y: 10, class: 'label', text: 'Δb' }));
    rows.forEach((r, i) => {
      g.append(svg('rect', {
        class: 'hm-b', x: x0, y: 16 + i * c, width: c - 1, height: c - 1, fill: diverging(db[i], mdb),
        dataset: { row: r, value: db[i] },
        on: { mouseenter: () => this.say(`row ${r}: Δb ${db[i].toPrecision(3)}`) },
      }));
    });
    // Columns are listed only where there is a ΔW, so then it has a shape.
    const shape = /** @type {[number, number]} */ (d.delta_w_shape);
    const what = wide ? `rows and columns where ΔW is largest (${rows.length} of ${shape[0]} × ${cols.length} of ${shape[1]})`
      : `rows where Δb is largest (${rows.length} of ${d.delta_b_len ?? rows.length})`;
    return el('div', { class: 'heatmap' }, el('div', { class: 'caption', text: `slice: ${what}` }), g);
  }

  /** @param {string} text */
  say(text) {
    if (this.readout) this.readout.textContent = text;
  }
}

/** @param {HTMLElement} container @param {WeightChange} data @param {Partial<WeightOptions>} [options] */
export function render(container, data, options) {
  const v = new WeightView(container, options);
  v.update(data);
  return v;
}
