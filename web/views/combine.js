// Combine: pick two or more of the session's vectors, give each a weight, see their cosine
// table (|cos| ≥ 0.5 flagged: the sum would mostly rescale one of them), and ask for the
// combination, which the host adds as an update that drives the same plots. A llama.cpp
// control-vector GGUF dropped here (or picked) is handed to the host to apply; the export
// button asks for the current update back as a control vector.
//
// Data contract:
//   { updates: [{ method: string, site: string, form, … }],    // `Session.frontier().updates`
//     cosines: { names: string[], cosine: number[][] } | null,  // `Session.cosines(names)`
//     current: string | null,                                   // the current update's name
//     overlap: 0.5 }                                            // |cos| flagged (core's OVERLAP_WARNING)
// Options: { weights: {name: number} (initial weights), selected: string[] }.
// Events (bubbling): 'select' {detail: {names}} when the chosen vectors change (the host
//   answers with their cosine table); 'combine' {detail: {names, weights}}; 'control-vector'
//   {detail: {name, bytes: ArrayBuffer}} for a dropped or picked .gguf; 'export' {detail: {name}}.
// DOM for tests: rows are <tr data-name> with a checkbox and input.weight; cosine cells are
//   <td class="cos"> with data-i, data-j, data-value; the drop zone is .drop (with input[type=file]).
import { el, emit, fmt } from './common.js';

/**
 * The data contract above, and the events' details.
 * @typedef {{ method: string, site: string, form: 'vector' | 'low-rank' | 'dense' | 'project-out' | 'clamp',
 *   [more: string]: unknown }} Update
 * @typedef {{ names: string[], cosine: number[][] }} Cosines
 * @typedef {{ updates: Update[], cosines: Cosines | null, current: string | null, overlap?: number }} CombineData
 * @typedef {{ weights?: Record<string, number>, selected?: string[] }} CombineOptions
 * @typedef {{ names: string[] }} SelectDetail
 * @typedef {{ names: string[], weights: number[] }} CombineDetail
 * @typedef {{ name: string, bytes: ArrayBuffer }} ControlVectorDetail
 * @typedef {{ name: string }} ExportDetail
 */

export class CombineView {
  /** @param {HTMLElement} container @param {CombineOptions} [options] */
  constructor(container, options = {}) {
    this.container = container;
    this.weights = { ...(options.weights || {}) };
    this.selected = new Set(options.selected || []);
    this.root = el('div', { class: 'ss-view ss-combine' });
    container.append(this.root);
  }

  /** @param {CombineData} data @param {CombineOptions} [options] */
  update(data, options = {}) {
    if (options.weights) Object.assign(this.weights, options.weights);
    if (options.selected) this.selected = new Set(options.selected);
    this.data = data;
    const vectors = data.updates.filter((u) => u.form === 'vector');
    const rows = vectors.map((u) => {
      const name = u.method;
      const box = el('input', { type: 'checkbox', checked: this.selected.has(name),
        on: { change: () => { if (box.checked) this.selected.add(name); else this.selected.delete(name); this.changed(); } } });
      const weight = el('input', { type: 'number', class: 'weight', step: 0.1, value: this.weights[name] ?? 1,
        on: { change: () => { this.weights[name] = Number(weight.value); } } });
      return el('tr', { dataset: { name }, class: name === data.current ? 'current' : '' },
        el('td', {}, box), el('td', { text: name }), el('td', { text: u.site }), el('td', {}, weight));
    });
    const combine = el('button', { type: 'button', class: 'combine', disabled: this.selected.size < 2,
      on: { click: () => this.emitCombine() } }, 'combine into one update');
    const exportButton = el('button', { type: 'button', class: 'export', disabled: !data.current,
      on: { click: () => emit(this.container, 'export', { name: data.current }) } }, 'export current as control vector (.gguf)');
    this.root.replaceChildren(
      el('h3', { text: 'Combine vectors' }),
      el('table', { class: 'vectors' },
        el('thead', {}, el('tr', {}, el('th'), el('th', { text: 'vector' }), el('th', { text: 'site' }), el('th', { text: 'weight' }))),
        el('tbody', {}, ...rows)),
      el('p', { class: 'note', text: 'Each vector is taken in strength units, so the weights set the mixture; the sum is rescaled like every update (strength 10 = half the layer\'s mean residual norm).' }),
      combine,
      this.table(data),
      this.dropZone(),
      exportButton,
    );
  }

  /** @param {CombineData} data */
  table(data) {
    const c = data.cosines;
    if (!c) return el('p', { class: 'cosines note', text: 'choose two or more vectors for their cosine table' });
    const limit = data.overlap ?? 0.5;
    const head = el('tr', {}, el('th'), ...c.names.map((n) => el('th', { text: n })));
    const body = c.names.map((n, i) => el('tr', {}, el('th', { text: n }), ...c.cosine[i].map((v, j) => el('td', {
      class: 'cos' + (i !== j && Math.abs(v) >= limit ? ' overlap' : ''),
      title: i !== j && Math.abs(v) >= limit ? `|cos| ≥ ${limit}: adding these mostly rescales one of them` : null,
      dataset: { i, j, value: v }, text: fmt(v, 3),
    }))));
    const overlaps = c.names.flatMap((a, i) => c.names.slice(i + 1).map((b, k) => /** @type {[string, string, number]} */ ([a, b, c.cosine[i][i + 1 + k]])))
      .filter(([, , v]) => Math.abs(v) >= limit);
    const warn = overlaps.length
      ? el('p', { class: 'warn', text: `overlapping: ${overlaps.map(([a, b, v]) => `${a} / ${b} (${fmt(v, 2)})`).join(', ')}` })
      : el('p', { class: 'note', text: `no pair overlaps (all |cos| < ${limit})` });
    return el('div', { class: 'cosines' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...body)), warn);
  }

  dropZone() {
    const input = el('input', { type: 'file', accept: '.gguf', on: { change: () => { const f = input.files?.[0]; if (f) this.take(f); } } });
    const zone = el('div', { class: 'drop', tabindex: 0 }, 'drop a llama.cpp control-vector .gguf here, or ', el('label', {}, 'pick one ', input));
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      const f = e.dataTransfer?.files?.[0];
      if (f) this.take(f);
    });
    return zone;
  }

  /** @param {File} file */
  async take(file) {
    emit(this.container, 'control-vector', { name: file.name.replace(/\.gguf$/i, ''), bytes: await file.arrayBuffer() });
  }

  changed() {
    const names = [...this.selected];
    /** @type {HTMLButtonElement} */ (this.root.querySelector('button.combine')).disabled = names.length < 2;
    emit(this.container, 'select', { names });
  }

  emitCombine() {
    const names = [...this.selected];
    emit(this.container, 'combine', { names, weights: names.map((n) => this.weights[n] ?? 1) });
  }
}

/** @param {HTMLElement} container @param {CombineData} data @param {CombineOptions} [options] */
export function render(container, data, options) {
  const v = new CombineView(container, options);
  v.update(data);
  return v;
}
