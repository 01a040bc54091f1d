// <attention-lab>: L+1 softmax-attention layers can follow an L-step chain of table lookups at
// any prompt length; L−1 full layers plus linear-attention layers (a fixed-size state) cannot.
// Shows one seeded prompt, evaluates the hand-set construction, and trains the three arms of
// the hierarchy, in the lab's own worker (client.js's AttentionLab). Its controls and seeds
// round-trip to its attributes and, when the host opts in (`url-state="lab."`), to the hash.
import { AttentionLab } from './client.js';
import { Fields, LAB_PROPS, hashParams, mergeHash } from './state.js';
import { applyStyles } from './styles.js';
import { h, message, isAbort, showValues, showControls } from './dom.js';

/** Layer specs of the three arms of the hierarchy for L steps (as in `compose experiment`).
 *  @param {'full' | 'hybrid' | 'linear'} arm @param {number} L */
export function armSpec(arm, L) {
  if (arm === 'full') return `F*${L + 1}`;
  if (arm === 'hybrid') return L >= 2 ? `${'F,'.repeat(L - 1)}L:gdn` : 'L:gdn';
  return `L:gdn*${L + 1}`;
}

/** One-line rendering of a prompt: tables, z₀, query, and the chain the models must follow.
 *  @param {{ tokens: any[], w: number[], chain: number[], n: number }} sample */
export function describe(sample) {
  const tables = new Map();
  let z0 = null;
  for (const t of sample.tokens) {
    if (t.kind === 'Z0') z0 = t.val;
    else if (t.kind?.Table !== undefined) {
      const l = t.kind.Table;
      if (!tables.has(l)) tables.set(l, []);
      tables.get(l).push(t.hi ? `(${t.hi},${t.lo})→${t.val}` : `${t.lo}→${t.val}`);
    }
  }
  const lines = [...tables.entries()].map(([l, e]) => `z${l}: ${e.join(' ')}`);
  lines.push(`z0 = ${z0}${sample.w.length ? `, w = (${sample.w.join(', ')})` : ''}`);
  lines.push(`chain i0…iL = ${sample.chain.join(' → ')}   (answer ${sample.chain.at(-1)}, n = ${sample.n})`);
  return lines.join('\n');
}

/** Parts a host can show or hide with `controls="…"` (default: all). */
export const LAB_CONTROLS = ['task', 'example', 'construct', 'train', 'runs'];

/** The page's one lab client (its worker is shared by every <attention-lab>). */
let shared = null;
const lab = () => (shared ??= new AttentionLab());

export class AttentionLabElement extends HTMLElement {
  static get observedAttributes() {
    return [...LAB_PROPS.map((p) => p.attr), 'controls', 'url-state', 'height', 'heading'];
  }

  constructor() {
    super();
    this.fields = new Fields(LAB_PROPS);
    /** @type {AbortController | null} */
    this.running = null;
    this.runs = [];
    /** Whether `loaded` was sent (after the first example is drawn). */
    this.loaded = false;
    const root = this.attachShadow({ mode: 'open' });
    applyStyles(root);
    this.ui = this.#build();
    root.append(this.ui.root);
    this.onHash = () => { if (this.#adoptHash()) this.#changed(true); };
  }

  connectedCallback() {
    this.started = true;
    for (const p of LAB_PROPS) if (this.hasAttribute(p.attr)) this.#setField(p.name, this.getAttribute(p.attr), 'attribute');
    this.#adoptHash();
    if (this.hasAttribute('url-state')) addEventListener('hashchange', this.onHash);
    const v = this.getAttribute('height');
    if (v && /^\d{1,5}(px|em|rem|vh|%)?$/.test(v)) this.style.height = /\d$/.test(v) ? `${v}px` : v;
    this.#applyControls();
    this.#changed(true);
  }

  disconnectedCallback() {
    removeEventListener('hashchange', this.onHash);
    this.running?.abort();
  }

  /** @param {string} name @param {string | null} old @param {string | null} value */
  attributeChangedCallback(name, old, value) {
    // Before connectedCallback (an upgrade calls this first for every attribute present) the
    // attributes and the hash are read there, in that order: nothing to do yet.
    if (this.fields.reflecting || old === value || !this.isConnected || !this.started) return;
    if (name === 'heading') return this.#render();
    if (name === 'controls') return this.#applyControls();
    const p = LAB_PROPS.find((q) => q.attr === name);
    if (p && this.#setField(p.name, value ?? p.def, 'attribute')) this.#changed(['task', 'L', 'k', 'seed'].includes(p.name));
  }

  /** @param {string} name @param {unknown} value @param {'attribute' | 'hash' | 'control'} from */
  #setField(name, value, from) {
    const r = this.fields.set(name, value);
    if (r.problem) {
      this.#message(`ignored ${r.problem}`, 'note');
      return false;
    }
    if (r.changed && from !== 'attribute') this.fields.reflect(this, name);
    return r.changed;
  }

  /** Sets a control as a visitor would. @param {string} name @param {string | number} value */
  set(name, value) {
    if (this.#setField(name, value, 'control')) this.#changed(['task', 'L', 'k', 'seed'].includes(name));
  }

  #applyControls() {
    const unknown = showControls(this.ui.root, this.getAttribute('controls'), LAB_CONTROLS);
    if (unknown.length) this.#message(`ignored unknown controls: ${unknown.slice(0, 5).join(', ')} (known: ${LAB_CONTROLS.join(', ')})`, 'note');
  }

  #prefix() {
    return this.hasAttribute('url-state') ? this.getAttribute('url-state') || '' : null;
  }

  #adoptHash() {
    const prefix = this.#prefix();
    const params = prefix === null ? null : hashParams(location.hash);
    if (!params) return false;
    let changed = false;
    for (const p of LAB_PROPS) {
      if (params.has(prefix + p.name) && this.#setField(p.name, params.get(prefix + p.name), 'hash')) changed = true;
    }
    return changed;
  }

  /** @param {boolean} resample */
  #changed(resample) {
    const prefix = this.#prefix();
    const params = prefix === null ? null : hashParams(location.hash);
    if (params) {
      const hash = mergeHash(params, /** @type {[string, string][]} */ (this.fields.entries(prefix ?? '')));
      if (hash !== location.hash) history.replaceState(history.state, '', hash);
    }
    this.#render();
    if (resample) this.#sample();
  }

  #task() {
    const f = this.fields.values;
    return { lookup: f.task === 'lookup', L: Number(f.L), k: Number(f.k) };
  }

  #build() {
    const ui = {};
    /** @type {(name: string, min: number, max: number) => HTMLInputElement} */
    const num = (name, min, max) => {
      const el = h('input', { type: 'number', name, min, max });
      el.addEventListener('change', () => this.set(name, /** @type {HTMLInputElement} */ (el).value));
      return el;
    };
    /** @type {(label: string, input: HTMLElement) => HTMLElement} */
    const field = (label, input) => h('label', { class: 'field' }, h('span', {}, label), input);
    ui.heading = h('h2', {}, 'Attention lab: full vs linear attention on function composition');
    ui.errors = h('div', { class: 'box-error', role: 'alert', hidden: true });
    ui.notes = h('div');
    ui.task = h('select', { name: 'task' }, h('option', { value: 'lookup' }, 'iterated lookup'), h('option', { value: 'composition' }, 'composition (with query w)'));
    ui.task.addEventListener('change', () => this.set('task', ui.task.value));
    ui.L = num('L', 1, 5);
    ui.k = num('k', 2, 2000);
    ui.seed = num('seed', 0, 4294967295);
    ui.sample = h('pre', { class: 'gen', 'data-role': 'sample', 'data-control': 'example' });
    ui.beta = h('input', { type: 'text', name: 'beta', placeholder: 'ln n + 2' });
    ui.beta.addEventListener('change', () => this.set('beta', ui.beta.value.trim()));
    ui.instances = num('instances', 1, 100000);
    ui.constructOut = h('div', { class: 'info', 'data-role': 'construct-out' });
    ui.spec = h('input', { type: 'text', name: 'spec', spellcheck: 'false' });
    ui.spec.addEventListener('change', () => this.set('spec', ui.spec.value.trim()));
    ui.d = num('d', 8, 128);
    ui.steps = num('steps', 1, 20000);
    ui.trainSeed = num('train_seed', 0, 4294967295);
    ui.progress = h('progress', { hidden: true });
    ui.progressLabel = h('span', { class: 'progress-label', 'data-role': 'progress-label' });
    ui.stop = h('button', { type: 'button', name: 'stop', hidden: true, title: 'stop the running evaluation or training', onclick: () => this.running?.abort() }, 'stop');
    ui.runs = h('tbody');
    /** @type {(name: 'full' | 'hybrid' | 'linear', label: string) => HTMLElement} */
    const arm = (name, label) => h('button', { type: 'button', 'data-arm': name, onclick: () => this.set('spec', armSpec(name, Number(this.fields.get('L')))) }, label);
    ui.root = h('div', { class: 'root' },
      ui.heading,
      h('p', { class: 'sub' }, 'L+1 softmax-attention layers can follow an L-step chain of table lookups at any prompt length; ' +
        'L−1 full layers plus linear-attention layers (a fixed-size state) cannot. Check the hand-set construction, then train the three arms and compare.'),
      ui.errors, ui.notes,
      h('div', { class: 'grid', 'data-control': 'task' }, field('task', ui.task), field('L (steps)', ui.L), field('k (domain size)', ui.k), field('example seed', ui.seed)),
      ui.sample,
      h('fieldset', { 'data-control': 'construct' }, h('legend', {}, 'hand-set construction (L+1 softmax layers)'),
        h('div', { class: 'grid' }, field('β', ui.beta), field('instances', ui.instances)),
        h('button', { type: 'button', 'data-role': 'construct', onclick: () => this.construct() }, 'evaluate'),
        ui.constructOut),
      h('fieldset', { 'data-control': 'train' }, h('legend', {}, 'train a model'),
        h('div', { class: 'grid' }, field('layers', ui.spec), field('width d', ui.d), field('steps', ui.steps), field('training seed', ui.trainSeed)),
        h('div', { class: 'exports' }, arm('full', '(a) full'), arm('hybrid', '(b) hybrid'), arm('linear', '(c) all-linear'),
          h('button', { type: 'button', 'data-role': 'train', onclick: () => this.train() }, 'train'))),
      h('div', {}, ui.progress, ' ', ui.progressLabel, ' ', ui.stop),
      h('div', { class: 'table-wrap', 'data-control': 'runs' }, h('table', { 'data-role': 'runs' },
        h('thead', {}, h('tr', {}, ...['layers', 'task', 'n', 'd', 'params', 'steps', 'seed', 'accuracy', 'chance'].map((t) => h('th', {}, t)))),
        ui.runs)));
    return ui;
  }

  #render() {
    const f = this.fields.values;
    const ui = this.ui;
    const heading = this.getAttribute('heading');
    if (heading !== null) ui.heading.textContent = heading;
    showValues(this.shadowRoot, [ui.task, ui.L, ui.k, ui.seed, ui.beta, ui.instances, ui.spec, ui.d, ui.steps, ui.trainSeed], f);
  }

  /** @param {string} text @param {'note' | 'error'} kind */
  #message(text, kind) {
    if (kind === 'error') {
      ui_error(this.ui.errors, text, () => { this.ui.errors.hidden = true; });
      this.dispatchEvent(new CustomEvent('error', { detail: { message: text }, bubbles: true, composed: true }));
    } else {
      this.ui.notes.append(h('div', { class: 'box-note' }, text));
      while (this.ui.notes.children.length > 4) this.ui.notes.firstChild?.remove();
    }
  }

  /** Runs one lab call with the progress bar and the stop button.
   *  @template T @param {string} what
   *  @param {(signal: AbortSignal, onProgress: (done: number, total: number, loss?: number) => void) => Promise<T>} fn
   *  @returns {Promise<T | null>} */
  async #run(what, fn) {
    this.running?.abort();
    const ctrl = new AbortController();
    this.running = ctrl;
    const ui = this.ui;
    /** @type {(done: number, total: number, loss?: number) => void} */
    const onProgress = (done, total, loss) => {
      ui.progress.hidden = false;
      ui.stop.hidden = false;
      ui.progress.max = total;
      ui.progress.value = done;
      ui.progressLabel.textContent = `${what} ${done}/${total}${loss !== undefined && loss !== null ? `, loss ${Number(loss).toFixed(3)}` : ''}`;
    };
    try {
      const r = await fn(ctrl.signal, onProgress);
      ui.progressLabel.textContent = '';
      return r;
    } catch (e) {
      if (isAbort(e)) ui.progressLabel.textContent = `${what} stopped`;
      else {
        ui.progressLabel.textContent = '';
        this.#message(`attention lab (${what}): ${message(e)}`, 'error');
      }
      return null;
    } finally {
      if (this.running === ctrl) this.running = null;
      ui.progress.hidden = true;
      ui.stop.hidden = true;
    }
  }

  async #sample() {
    const f = this.fields.values;
    const s = await lab().sample({ ...this.#task(), seed: Number(f.seed) }).catch((/** @type {unknown} */ e) => {
      this.#message(`attention lab (example): ${message(e)}`, 'error');
      return null;
    });
    if (!s) return;
    this.ui.sample.textContent = describe(s);
    // The first example drawn means the lab's worker and wasm are up: the lab is ready.
    if (!this.loaded) {
      this.loaded = true;
      this.dispatchEvent(new CustomEvent('loaded', { detail: { sample: s }, bubbles: true, composed: true }));
    }
  }

  /** Evaluates the hand-set construction with the current controls. */
  async construct() {
    const f = this.fields.values;
    const beta = f.beta === '' ? null : Number(f.beta);
    if (beta !== null && !(beta > 0)) return this.#message(`β must be a positive number, got "${f.beta}"`, 'error');
    const r = await this.#run('evaluating', (signal, onProgress) => lab().construct({ ...this.#task(), beta, instances: Number(f.instances) }, { signal, onProgress }));
    if (!r) return;
    this.ui.constructOut.textContent = `n = ${r.n}, ${r.layers} layers, d = ${r.d_model}, β = ${r.beta.toFixed(2)}: ` +
      `${r.correct}/${r.instances} correct (${(100 * r.accuracy).toFixed(1)}%)` + (r.warnings.length ? ` — ${r.warnings.join('; ')}` : '');
    this.dispatchEvent(new CustomEvent('construct', { detail: r, bubbles: true, composed: true }));
  }

  /** Trains one model with the current controls and adds it to the table. */
  async train() {
    const f = this.fields.values;
    const args = { ...this.#task(), spec: String(f.spec), d: Number(f.d), steps: Number(f.steps), seed: Number(f.train_seed) };
    const out = await this.#run(`training ${args.spec}`, (signal, onProgress) => lab().train(args, { signal, onProgress }));
    if (!out) return;
    const { run: r, chance } = out;
    this.ui.runs.append(h('tr', {}, ...[args.spec, `${f.task} L=${args.L}, k=${args.k}`, r.n, args.d, r.params, r.steps_run, args.seed,
      `${(100 * r.accuracy).toFixed(1)}%`, `${(100 * chance).toFixed(0)}%`].map((c) => h('td', {}, String(c)))));
    this.dispatchEvent(new CustomEvent('trained', { detail: { ...args, run: r, chance }, bubbles: true, composed: true }));
  }
}

/** Shows `text` in an error box with a dismiss button.
 *  @param {HTMLElement} box @param {string} text @param {() => void} dismiss */
function ui_error(box, text, dismiss) {
  if (box.hidden) box.replaceChildren(h('button', { type: 'button', class: 'dismiss', title: 'dismiss', onclick: dismiss }, '×'), h('strong', {}, 'Error'));
  box.append(h('p', {}, text));
  while (box.children.length > 7) box.children[2].remove();
  box.hidden = false;
}

if (!customElements.get('attention-lab')) customElements.define('attention-lab', AttentionLabElement);
