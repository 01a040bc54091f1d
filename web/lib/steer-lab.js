// <steer-lab>: steer a language model in the page and watch preference and utility move.
//
// The element owns three things and keeps them apart:
// - the controls (`Fields`, round-tripping to its attributes and, if the host opts in with
//   `url-state="prefix"`, to the URL hash under that prefix);
// - the results, each stored under the full key of what produced it (model sha256, the pairs'
//   sha256, prompt format, method, site, layer, positions, strength, …) in a store that
//   survives settings and visits (store.js) — what is drawn is always looked up by the key of
//   the controls on screen, so a number can never belong to other controls;
// - a job queue that computes what the current controls still lack, most useful first (the
//   point at the slider, its text, the sweep around the slider, the baselines). When the
//   controls change, the running job is aborted unless it is still the most useful one; the
//   worker stops it within one pair / step / token.
// The science is the core's: points, baselines, applied check, off-manifold score and curve
// fits come from the wasm session; this file only decides what to ask for and draws the answers.
import { SteerScope, THREADS_KEY } from './client.js';
import { Fields, STEER_PROPS, hashParams, mergeHash } from './state.js';
import { resultStore, keyOf } from './store.js';
import { renderPlot, svgFile, pngFile, csvFile } from './plot.js';
import { applyStyles } from './styles.js';
import { h, asset, download, sha256, message, isAbort, fmt, signed, showValues, showControls } from './dom.js';
import { MEAN_BOUND } from './bounds.js';

/**
 * @typedef {import('./client.js').SweepPoint} SweepPoint
 * @typedef {import('./client.js').UpdateInfo} UpdateInfo
 * @typedef {import('./client.js').Summary} Summary
 * @typedef {import('./client.js').Prompting} Prompting
 * @typedef {{ name: string, description?: string, instruction?: string }} Concept
 * @typedef {{ train: string, test: string, trainSha: string, testSha: string }} PairTexts
 * @typedef {{ model: string, texts: PairTexts, fit: string, pairs: string, index: string, summary: string,
 *   point: (m: number, random?: boolean) => string, prompting: string, base: string, steered: string }} Keys
 * @typedef {SweepPoint & { source: 'live' | 'precomputed' | 'partial', confirmed?: boolean | null, random?: boolean }} Shown
 * @typedef {{ data: any, note: string }} PreEntry
 * @typedef {{ update: number[], random: number[] }} PointIndex
 * @typedef {{ train: string, test: string, n_train: string | number, n_test: string | number, id: string }} PairSource
 */

/** Controls a host can show or hide with `controls="…"` (default: all). */
export const CONTROLS = ['model', 'concept', 'method', 'site', 'layer', 'strength', 'prompt', 'more', 'plot', 'table',
  'summary', 'text', 'export'];
const TRAINED = /-(sft|split)$/;
/** Precomputed (native) and live (wasm) numbers agree to this: the engines' measured noise
 *  on a mean per-token statistic (bounds.js says why they differ at all). */
export const CONFIRM_TOLERANCE = MEAN_BOUND;
const PRECOMPUTED_VERSION = 1;

/**
 * A panel another module adds under the plot (issue 14's views). `create(container, ctx)`
 * returns either a function `(data) => void` or an object with `update(data)`; it is called
 * with the lab's data after every change. `ctx.run(label, fn)` runs `fn(client, signal)` in the
 * lab's job queue (after the current job; aborted when the controls change), so a panel's own
 * wasm calls never interleave with the lab's; `ctx.set(name, value)` moves a control.
 * @typedef {{ id: string, title: string, create: (container: HTMLElement, ctx: PanelContext) => ((data: LabData) => void) | { update: (data: LabData) => void } }} Panel
 * @typedef {{ run: (label: string, fn: (client: SteerScope, signal: AbortSignal) => Promise<any>) => Promise<any>,
 *   set: (name: string, value: string | number) => void, element: HTMLElement }} PanelContext
 * What a panel (and the lab's own rendering) gets: the controls and the numbers on screen.
 * @typedef {{ values: Record<string, string | number>, fit: UpdateInfo | null, points: Shown[], random: Shown[],
 *   partial: Shown[], prompting: any, promptingSource?: string | null, summary: any, summarySource?: string | null,
 *   modelSha256: string | null, keys: Keys | null, pre: any }} LabData
 */
/** @type {Panel[]} */
const PANELS = [];

/** Adds a panel to every <steer-lab> (present and future). @param {Panel} panel */
export function registerPanel(panel) {
  PANELS.push(panel);
  for (const el of document.querySelectorAll('steer-lab')) /** @type {SteerLab} */ (el).addPanel(panel);
}

/** The first `n` non-blank lines of a JSONL file, each followed by a newline: exactly the text
 *  `steerscope precompute` hashes, so the precomputed file's pairs can be recognised. */
export function firstLines(/** @type {string} */ text, /** @type {number} */ n) {
  return text.split('\n').filter((l) => l.trim()).slice(0, n).map((l) => `${l}\n`).join('');
}

/** Concepts of the shipped index (fetched once per page). */
/** @type {Promise<Concept[]> | null} */
let conceptIndex = null;
function concepts() {
  if (!conceptIndex) {
    conceptIndex = fetch(asset('data/concepts/index.json')).then((r) => (r.ok ? r.json() : []))
      .then((/** @type {any} */ j) => (Array.isArray(j) ? j : j.concepts || []).map((/** @type {any} */ c) => (typeof c === 'string' ? { name: c } : c))
        .filter((/** @type {any} */ c) => c && typeof c.name === 'string'))
      .catch(() => []);
  }
  return conceptIndex;
}

/** @type {Promise<number[]> | null} */
let strengthsOnce = null;
/** The core's default sweep strengths. @returns {Promise<number[]>} */
function defaultStrengths() {
  if (!strengthsOnce) strengthsOnce = SteerScope.defaultStrengths();
  return strengthsOnce;
}

/**
 * A unit of work. `needs` names the session state it sets up first (the training pairs' one
 * activation pass, the fit), so a change of controls that needs the same state does not abort
 * it while it is still setting that up.
 * @typedef {{ key: string, label: string, phase: string, needs?: { pairs?: string, fit?: string, acts?: boolean },
 *   run: (signal: AbortSignal) => Promise<void> }} Job
 */

/** @type {Promise<string[]> | null} */
let precomputedList = null;
/** The concepts with a precomputed file (`precomputed/index.json`, written by `steerscope
 *  precompute`); none when the folder has no index. */
function precomputedIndex() {
  precomputedList ??= fetch(asset('precomputed/index.json'))
    .then((r) => (r.ok ? r.json() : null))
    .then((j) => (j && Array.isArray(j.concepts) ? j.concepts.filter((/** @type {unknown} */ c) => typeof c === 'string') : []))
    .catch(() => []);
  return precomputedList;
}

export class SteerLab extends HTMLElement {
  static get observedAttributes() {
    return [...STEER_PROPS.map((p) => p.attr), 'controls', 'height', 'url-state', 'model-origins', 'precomputed', 'heading'];
  }

  constructor() {
    super();
    this.fields = new Fields(STEER_PROPS);
    this.store = resultStore();
    /** @type {SteerScope | null} */
    this.client = null;
    this.clientFor = '';
    /** sha256 of the model: verified when loaded, else remembered from an earlier visit. */
    this.modelSha = null;
    this.modelVerified = false;
    /** What the wasm session holds, mirrored from calls that succeeded. */
    this.holds = this.#emptyHolds();
    /** pair source id → {train, test, trainSha, testSha} */
    /** @type {Map<string, PairTexts>} */
    this.pairTexts = new Map();
    /** concept → {data, note} @type {Map<string, PreEntry>} */
    this.pre = new Map();
    /** Keys of jobs that failed → message (shown while the controls they belong to are on screen). */
    /** @type {Map<string, string>} */
    this.failed = new Map();
    /** Errors already recorded by the step that threw them. @type {WeakSet<object>} */
    this.recorded = new WeakSet();
    /** In-flight estimates: point key → partial point; text key → text so far. */
    /** @type {Map<string, SweepPoint>} */
    this.partial = new Map();
    /** @type {Map<string, string>} */
    this.streaming = new Map();
    /** User actions (export …) run before everything else. @type {Job[]} */
    this.actions = [];
    /** @type {{ job: Job, ctrl: AbortController } | null} */
    this.running = null;
    this.looping = false;
    /** @type {{ phase: string, label: string, done: number, total: number } | null} */
    this.progress = null;
    /** @type {{ text: string, kind: string }[]} */
    this.notes = [];
    /** @type {number[] | null} */
    this.strengths = null;
    /** @type {string[] | null} */
    this.methods = null;
    /** @type {Concept[] | null} */
    this.concepts = null;
    /** Where the model URL came from: a link's model is checked before it is fetched. */
    this.modelSource = 'default';
    /** @type {string | null} a link's model URL waiting for the visitor's yes (`ok:<url>` once given) */
    this.pendingModel = null;
    this.renderQueued = false;
    /** @type {{ id: string, update: (d: any) => void }[]} */
    this.panels = [];
    /** @type {import('./client.js').EngineInfo | null} */
    this.engine = null;
    this.stage = '';
    const root = this.attachShadow({ mode: 'open' });
    applyStyles(root);
    this.ui = this.#build();
    root.append(this.ui.root);
    this.onHash = () => this.#adoptHash(true);
  }

  /** Nothing held: after a new model, or new training pairs. `remembered` is the index key
   *  whose stored points the session was given. */
  #emptyHolds() {
    return { pairs: '', acts: false, fit: '', remembered: '', trained: /** @type {Map<string, string>} */ (new Map()) };
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  connectedCallback() {
    this.started = true;
    for (const p of STEER_PROPS) {
      if (this.hasAttribute(p.attr)) this.#setField(p.name, this.getAttribute(p.attr), 'attribute');
    }
    if (this.hasAttribute('model')) this.modelSource = 'attribute';
    this.#adoptHash(false);
    if (this.hasAttribute('url-state')) addEventListener('hashchange', this.onHash);
    this.#applyHeight();
    this.#applyControls();
    for (const p of PANELS) this.addPanel(p);
    concepts().then((list) => { this.concepts = list; this.#changed(); });
    this.#changed();
  }

  disconnectedCallback() {
    removeEventListener('hashchange', this.onHash);
    this.running?.ctrl.abort();
  }

  /** @param {string} name @param {string | null} old @param {string | null} value */
  attributeChangedCallback(name, old, value) {
    // Before connectedCallback (an upgrade calls this first for every attribute present) the
    // attributes and the hash are read there, in that order: nothing to do yet.
    if (this.fields.reflecting || old === value || !this.isConnected || !this.started) return;
    if (name === 'height') return this.#applyHeight();
    if (name === 'controls') return this.#applyControls();
    if (name === 'heading') return this.#render();
    if (['url-state', 'model-origins', 'precomputed'].includes(name)) return this.#changed();
    const p = STEER_PROPS.find((q) => q.attr === name);
    if (p && this.#setField(p.name, value ?? p.def, 'attribute')) this.#changed();
  }

  /** The lab's current control values. */
  get values() {
    return { ...this.fields.values };
  }

  /**
   * Sets a control as a visitor would (reflected to the attribute and, if opted in, the hash).
   * @param {string} name field name (`layer`, `strength`, …)
   * @param {string | number} value
   */
  set(name, value) {
    if (this.#setField(name, value, 'control')) this.#changed();
  }

  /** @param {Panel} panel */
  addPanel(panel) {
    if (this.panels.some((p) => p.id === panel.id)) return;
    const box = h('section', { class: 'panel', 'data-panel': panel.id }, h('h3', {}, panel.title));
    const body = h('div');
    box.append(body);
    this.ui.panels.append(box);
    /** @type {PanelContext} */
    const ctx = {
      element: this,
      set: (name, value) => this.set(name, value),
      run: (label, fn) => this.#action(label, async (signal) => {
        const client = await this.#readyClient(signal);
        try {
          return await fn(client, signal);
        } finally {
          // The panel may have fitted, selected or loaded another update: assume nothing.
          this.holds.fit = '';
        }
      }),
    };
    const made = panel.create(body, ctx);
    const update = typeof made === 'function' ? made : (/** @type {LabData} */ d) => made.update(d);
    this.panels.push({ id: panel.id, update });
    this.#renderSoon();
  }

  // ---- fields, attributes, the URL hash ----------------------------------------------------------

  /** @param {string} name @param {unknown} value @param {'attribute' | 'hash' | 'control'} from */
  #setField(name, value, from) {
    const r = this.fields.set(name, value);
    if (r.problem) {
      this.#note(`ignored ${from === 'hash' ? 'a link\'s' : 'an'} ${r.problem}`);
      return false;
    }
    if (!r.changed) return false;
    if (name === 'model') {
      this.modelSource = from === 'hash' ? 'hash' : from === 'attribute' ? 'attribute' : 'control';
      this.pendingModel = null;
    }
    if (from !== 'attribute') this.fields.reflect(this, name);
    return true;
  }


  #prefix() {
    return this.hasAttribute('url-state') ? this.getAttribute('url-state') || '' : null;
  }

  /** Adopts the fields the host's URL hash holds under our prefix (only when opted in). */
  /** @param {boolean} notify */
  #adoptHash(notify) {
    const prefix = this.#prefix();
    if (prefix === null) return;
    const params = hashParams(location.hash);
    if (!params) return;
    let changed = false;
    for (const p of STEER_PROPS) {
      if (params.has(prefix + p.name) && this.#setField(p.name, params.get(prefix + p.name), 'hash')) changed = true;
    }
    if (changed && notify) this.#changed();
  }

  #writeHash() {
    const prefix = this.#prefix();
    if (prefix === null) return;
    const params = hashParams(location.hash);
    if (!params) return; // the host's hash is an anchor: leave it alone
    const hash = mergeHash(params, /** @type {[string, string][]} */ (this.fields.entries(prefix)));
    if (hash !== location.hash) history.replaceState(history.state, '', hash);
  }

  #applyHeight() {
    const v = this.getAttribute('height');
    if (v && /^\d{1,5}(px|em|rem|vh|%)?$/.test(v)) {
      this.style.height = /\d$/.test(v) ? `${v}px` : v;
      this.style.overflowY = 'auto';
    } else {
      this.style.height = '';
      this.style.overflowY = '';
      if (v) this.#note(`ignored height ${JSON.stringify(v.slice(0, 30))}: use a number of px, or px/em/rem/vh/%`);
    }
  }

  #applyControls() {
    const unknown = showControls(this.ui.root, this.getAttribute('controls'), CONTROLS);
    if (unknown.length) this.#note(`ignored unknown controls: ${unknown.slice(0, 5).join(', ')} (known: ${CONTROLS.join(', ')})`);
  }

  // ---- keys ----------------------------------------------------------------------------------------

  /** The lab's model: its URL, else the local file a visitor chose (`file:<name>`, kept until a
   *  URL is set), else '' — none, said on screen. */
  #model() {
    const url = this.#modelUrl();
    return url || (this.clientFor.startsWith('file:') ? this.clientFor : '');
  }

  /** The model URL: the attribute/hash value against the document, the default against the
   *  package (so the default works from any folder the package is served from). */
  #modelUrl() {
    const v = String(this.fields.get('model'));
    if (!v) return '';
    try {
      return this.modelSource === 'default' ? asset(v).href : new URL(v, document.baseURI).href;
    } catch {
      return '';
    }
  }

  /** Where the pairs come from: URLs given, else the concept's files. */
  /** @returns {PairSource} */
  #pairSource() {
    const f = this.fields.values;
    const train = f.train ? new URL(String(f.train), document.baseURI).href : asset(`data/concepts/${encodeURIComponent(String(f.concept))}.train.jsonl`).href;
    const test = f.test ? new URL(String(f.test), document.baseURI).href : asset(`data/concepts/${encodeURIComponent(String(f.concept))}.test.jsonl`).href;
    return { train, test, n_train: f.n_train, n_test: f.n_test, id: keyOf({ train, test, n: f.n_train, t: f.n_test }) };
  }

  /** Every key of the current controls, or null until the pairs and the model's sha are known. */
  /** @returns {Keys | null} */
  #keys() {
    const f = this.fields.values;
    const texts = this.pairTexts.get(this.#pairSource().id);
    if (!texts || !this.modelSha) return null;
    const model = this.modelSha;
    const pairs = { train: texts.trainSha, test: texts.testSha, format: f.format, system: f.system };
    const fit = keyOf({ kind: 'fit', model, train: texts.trainSha, format: f.format, system: f.system,
      method: f.method, layer: f.layer, site: f.site, positions: f.positions });
    // Points scored on the GPU differ from the CPU's by the activations' 8-bit rounding: they
    // are kept under their own keys (the CPU's keys stay as they were).
    const test = this.client?.backend?.backend === 'gpu' ? { test: texts.testSha, on: 'gpu' } : { test: texts.testSha };
    return {
      model, texts, fit,
      pairs: keyOf({ kind: 'pairs', model, ...pairs }),
      index: keyOf({ kind: 'index', fit, ...test }),
      summary: keyOf({ kind: 'summary', fit, ...test }),
      point: (/** @type {number} */ m, random = false) => keyOf({ kind: 'point', fit, ...test, m, random: random && m !== 0 }),
      prompting: keyOf({ kind: 'prompting', model, test: texts.testSha, format: f.format, system: f.system, instruction: this.#instruction() }),
      base: keyOf({ kind: 'text', model, format: f.format, system: f.system, prompt: f.prompt, max: f.max_tokens, m: 0 }),
      steered: keyOf({ kind: 'text', fit, prompt: f.prompt, max: f.max_tokens, m: f.strength }),
    };
  }

  #instruction() {
    const own = String(this.fields.get('instruction'));
    if (own) return own;
    const c = (this.concepts || []).find((x) => x.name === this.fields.get('concept'));
    return (c && typeof c.instruction === 'string' && !this.fields.get('train')) ? c.instruction : '';
  }

  /** The strengths of the sweep: the core's defaults (or the precomputed file's, before wasm). */
  #sweepStrengths() {
    return this.strengths || this.#precomputed()?.data.strengths || null;
  }

  /** Keys whose values the screen or the planner needs (looked up in IndexedDB before planning). */
  /** @param {Keys} K */
  #viewKeys(K) {
    const list = this.#sweepStrengths() || [];
    const idx = this.store.peek(K.index);
    const ms = new Set([...list, Number(this.fields.get('strength')), ...(idx ? [...idx.update, ...idx.random] : [])]);
    return [K.fit, K.index, K.summary, K.prompting, K.base, K.steered,
      ...[...ms].flatMap((m) => [K.point(m), K.point(m, true)])];
  }

  // ---- the job queue -------------------------------------------------------------------------------

  /** Something the screen depends on changed: draw what is known, re-plan, abort stale work. */
  #changed() {
    this.#writeHash();
    this.#render();
    const r = this.running;
    if (r && !r.job.key.startsWith('action:') && !this.#stillWanted(r)) r.ctrl.abort();
    this.#loop();
  }

  /** Whether the running job should go on: it is still the most useful one, or it is setting up
   *  session state (activations, a fit) that the most useful one needs too. */
  /** @param {{ job: Job }} r */
  #stillWanted(r) {
    const first = this.#plan()[0];
    if (!first) return false;
    if (first.key === r.job.key) return true;
    const a = r.job.needs || {};
    const b = first.needs || {};
    if (this.stage === 'activations') return !!a.acts && a.pairs === b.pairs && !!b.acts;
    if (this.stage === 'fit') return !!a.fit && a.fit === b.fit;
    return false;
  }

  /** The running job moved on to its own work: stop here if it is no longer the most useful. */
  #ownWork() {
    this.stage = 'own';
    const r = this.running;
    if (r && !r.job.key.startsWith('action:') && !this.#stillWanted(r)) throw new DOMException('superseded', 'AbortError');
  }

  async #loop() {
    if (this.looping) return;
    this.looping = true;
    try {
      while (this.isConnected) {
        const K = this.#keys();
        if (K) await this.store.getMany(this.#viewKeys(K));
        const job = this.#plan()[0];
        if (!job) break;
        const ctrl = new AbortController();
        this.running = { job, ctrl };
        this.stage = '';
        this.#render();
        try {
          await job.run(ctrl.signal);
          // A job that left the plan unchanged would run forever: stop it with its reason.
          if (!ctrl.signal.aborted && this.#plan()[0]?.key === job.key) throw new Error('made no progress (this is a bug; please report it)');
        } catch (e) {
          if (!isAbort(e) && !(e && typeof e === 'object' && this.recorded.has(e))) this.#fail(job.key, job.label, e);
        } finally {
          this.running = null;
          this.progress = null;
        }
        this.#render();
      }
    } finally {
      this.looping = false;
      this.#render();
    }
  }

  /** Records a failure under `key` (shown while its controls are on screen) and says so with an
   *  `error` event; returns the error to rethrow. An abort is no failure. */
  /** @param {string} key @param {string} label @param {unknown} e */
  #fail(key, label, e) {
    if (isAbort(e)) return e;
    this.failed.set(key, `${label}: ${message(e)}`);
    if (e && typeof e === 'object') this.recorded.add(e);
    this.dispatchEvent(new CustomEvent('error', { detail: { message: message(e), where: label }, bubbles: true, composed: true }));
    return e;
  }

  /** Runs `fn` as a user action (before everything else); resolves with its result. */
  /** @template T @param {string} label @param {(signal: AbortSignal) => Promise<T>} fn @returns {Promise<T>} */
  #action(label, fn) {
    return new Promise((resolve, reject) => {
      const key = `action:${label}:${Math.random()}`;
      this.actions.push({ key, label, phase: 'action', run: async (signal) => {
        this.actions = this.actions.filter((a) => a.key !== key);
        try {
          resolve(await fn(signal));
        } catch (e) {
          reject(e);
          if (!isAbort(e)) throw e;
        }
      } });
      this.#changed();
    });
  }

  /** What the current controls still lack, most useful first. @returns {Job[]} */
  #plan() {
    const jobs = [...this.actions];
    const f = this.fields.values;
    const src = this.#pairSource();
    const ok = (/** @type {Job} */ j) => !this.failed.has(j.key);
    if (!this.pairTexts.has(src.id)) jobs.push({ key: `pairs:${src.id}`, label: 'reading the pairs', phase: 'pairs', run: (s) => this.#fetchPairs(src, s) });
    const concept = String(f.concept);
    if (!f.train && this.getAttribute('precomputed') !== 'off' && !this.pre.has(concept)) {
      jobs.push({ key: `pre:${concept}`, label: 'reading precomputed results', phase: 'pairs', run: () => this.#fetchPrecomputed(concept) });
    }
    const url = this.#model();
    if (!url) return jobs.filter(ok);
    if (this.clientFor !== url) {
      if (this.#modelBlocked(url)) return jobs.filter(ok);
      jobs.push({ key: `load:${url}`, label: 'loading the model', phase: 'load', run: (s) => this.#load(url, s) });
      return jobs.filter(ok);
    }
    if (!this.strengths) jobs.push({ key: 'strengths', label: 'reading the default strengths', phase: 'pairs', run: () => this.#fetchStrengths() });
    const K = this.#keys();
    const strengths = this.#sweepStrengths();
    if (!K || !strengths) return jobs.filter(ok);
    const have = (/** @type {string} */ k) => this.store.peek(k) !== undefined;
    const m0 = Number(f.strength);
    const byDistance = [...strengths].sort((a, b) => Math.abs(a - m0) - Math.abs(b - m0) || a - b);
    // Jobs needing a session state that already failed for these controls are not tried again
    // (their error stays on screen); other jobs go on.
    const pairsOk = !this.failed.has(`setpairs:${K.pairs}`);
    const fitOk = pairsOk && !this.failed.has(`fit:${K.fit}`);
    const withPairs = { pairs: K.pairs };
    const withFit = { pairs: K.pairs, fit: K.fit, acts: !TRAINED.test(String(f.method)) };
    /** @type {(m: number, random: boolean) => Job} */
    const point = (m, random) => ({ key: K.point(m, random), label: `${random ? 'a random direction' : 'scoring'} at strength ${signed(m)}`,
      phase: 'point', needs: withFit, run: (s) => this.#point(K, m, random, s) });
    if (pairsOk && !have(K.base)) jobs.push({ key: K.base, label: 'generating the base text', phase: 'text', needs: withPairs, run: (s) => this.#text(K, 0, s) });
    if (fitOk) {
      if (!have(K.point(m0))) jobs.push(point(m0, false));
      if (m0 !== 0 && !have(K.steered)) jobs.push({ key: K.steered, label: `generating at strength ${signed(m0)}`, phase: 'text', needs: withFit, run: (s) => this.#text(K, m0, s) });
      for (const m of byDistance) if (!have(K.point(m))) jobs.push(point(m, false));
      if (!this.#summaryFresh(K)) jobs.push({ key: K.summary, label: 'fitting the curves', phase: 'summary', needs: withFit, run: (s) => this.#summary(K, s) });
    }
    if (pairsOk && !have(K.prompting)) jobs.push({ key: K.prompting, label: 'scoring the prompting baseline', phase: 'point', needs: withPairs, run: (s) => this.#prompting(K, s) });
    if (fitOk) for (const m of byDistance) if (m !== 0 && !have(K.point(m, true))) jobs.push(point(m, true));
    return jobs.filter(ok);
  }

  // ---- jobs -------------------------------------------------------------------------------------------

  /** @param {{train: string, test: string, n_train: any, n_test: any, id: string}} src @param {AbortSignal} signal */
  async #fetchPairs(src, signal) {
    /** @type {(url: string, which: string, n: string | number) => Promise<string>} */
    const get = async (url, which, n) => {
      const res = await fetch(url, { signal });
      if (!res.ok) throw new Error(`no ${which} pairs at ${url} (HTTP ${res.status})`);
      const text = firstLines(await res.text(), Number(n));
      if (!text) throw new Error(`the ${which} pairs at ${url} are empty`);
      return text;
    };
    const [train, test] = await Promise.all([get(src.train, 'training', src.n_train), get(src.test, 'held-out', src.n_test)]);
    this.pairTexts.set(src.id, { train, test, trainSha: await sha256(train), testSha: await sha256(test) });
  }

  async #fetchStrengths() {
    this.strengths = await defaultStrengths();
    if (!this.methods) this.methods = await SteerScope.methods();
    if (!this.engine) this.engine = await SteerScope.engine();
  }

  /** Reads the concept's precomputed file; a file for other pairs or another model is ignored
   *  with a visible note, a corrupt one is reported and the page computes live. */
  /** @param {string} concept */
  async #fetchPrecomputed(concept) {
    const url = asset(`precomputed/${encodeURIComponent(concept)}.json`);
    let data = null;
    let note = '';
    try {
      // Only concepts the folder's index lists are fetched: no 404 in the host's console.
      const listed = (await precomputedIndex()).includes(concept);
      const res = listed ? await fetch(url) : null;
      if (!res || res.status === 404) note = '';
      else if (!res.ok) note = `precomputed results for ${concept} unavailable (HTTP ${res.status}); computing live`;
      else {
        const text = await res.text();
        try {
          data = JSON.parse(text);
        } catch (e) {
          note = `precomputed file ${url.pathname} is corrupt (${message(e)}); computing live`;
        }
        if (data && (data.format_version !== PRECOMPUTED_VERSION || !Array.isArray(data.sweeps) || !data.pairs)) {
          note = `precomputed file ${url.pathname} is not a version-${PRECOMPUTED_VERSION} precomputed file; computing live`;
          data = null;
        }
      }
    } catch (e) {
      note = `precomputed results unavailable (${message(e)}); computing live`;
    }
    this.pre.set(concept, { data, note });
  }

  /** Whether a model URL from a link must be confirmed first (another origin, not allowed). */
  /** @param {string} url */
  #modelBlocked(url) {
    if (this.modelSource !== 'hash') return false;
    const origin = new URL(url).origin;
    const allowed = (this.getAttribute('model-origins') || '').split(/\s+/).filter(Boolean);
    if (origin === location.origin || allowed.includes(origin) || this.pendingModel === `ok:${url}`) return false;
    this.pendingModel = url;
    return true;
  }

  /** @param {string} url @param {AbortSignal} signal */
  async #load(url, signal) {
    const known = await this.store.get(keyOf({ kind: 'model-sha', url }));
    if (known && !this.modelSha) {
      this.modelSha = known; // results of an earlier visit show at once; verified below
      this.#render();
    }
    const client = await SteerScope.load(url, { signal, onProgress: (d, t) => this.#setProgress('load', t ? 'downloading the model' : 'parsing the model', d, t) });
    this.client?.close().catch(() => {});
    this.client = client;
    this.clientFor = url;
    this.holds = this.#emptyHolds();
    this.modelSha = client.modelSha256 || `url:${url}`;
    this.modelVerified = true;
    this.#clampLayer();
    this.store.put(keyOf({ kind: 'model-sha', url }), this.modelSha);
    this.dispatchEvent(new CustomEvent('loaded', { detail: { info: client.info, sha256: client.modelSha256, cached: client.cached }, bubbles: true, composed: true }));
  }

  /** A layer beyond the model's last (from a link, an attribute) becomes its last. */
  #clampLayer() {
    const n = this.client?.info?.n_layers;
    if (n && Number(this.fields.get('layer')) > n - 1) {
      this.#note(`layer ${this.fields.get('layer')} does not exist in this ${n}-layer model: using layer ${n - 1}`);
      this.#setField('layer', n - 1, 'control');
    }
  }

  /** A client for a panel's or an action's own calls (the model loaded). @param {AbortSignal} signal */
  async #readyClient(signal) {
    const url = this.#model();
    if (!url) throw new Error('no model: set a GGUF URL or choose a local GGUF file');
    if (this.clientFor !== url) await this.#load(url, signal);
    return /** @type {SteerScope} */ (this.client);
  }

  /** @param {string} phase @param {string} label @param {number} done @param {number} total */
  #setProgress(phase, label, done, total) {
    this.progress = { phase, label, done, total };
    this.#renderSoon();
  }

  /** The session holds the current pairs and prompt format. @param {Keys} K @param {AbortSignal} signal */
  async #ensurePairs(K, signal) {
    if (this.holds.pairs === K.pairs) return;
    const f = this.fields.values;
    const client = /** @type {SteerScope} */ (this.client);
    this.stage = 'pairs';
    let r;
    try {
      r = await client.setPairs({ train: K.texts.train, test: K.texts.test, format: /** @type {any} */ (f.format), system: f.system ? String(f.system) : undefined }, { signal });
    } catch (e) {
      throw this.#fail(`setpairs:${K.pairs}`, 'reading the pairs', e);
    }
    // Same training pairs (only the held-out ones changed): the updates and activations stay.
    this.holds = r.kept_updates ? { ...this.holds, pairs: K.pairs, remembered: '' } : { ...this.#emptyHolds(), pairs: K.pairs };
  }

  /** The session's current update is the one the controls name, with every point stored for it
   *  remembered (so the core's summary covers them and none is measured twice).
   *  @param {Keys} K @param {AbortSignal} signal */
  async #ensureFit(K, signal) {
    await this.#ensurePairs(K, signal);
    if (this.holds.fit !== K.fit) await this.#fit(K, signal);
    if (this.holds.remembered === K.index) return;
    const idx = this.store.peek(K.index);
    const client = /** @type {SteerScope} */ (this.client);
    if (idx) {
      for (const random of [false, true]) {
        const pts = (random ? idx.random : idx.update).map((/** @type {number} */ m) => this.store.peek(K.point(m, random))).filter(Boolean);
        if (pts.length) await client.remember(pts, { random });
      }
    }
    this.holds.remembered = K.index;
  }

  /** Fits (after the one activation pass) or trains the update the controls name — or selects
   *  it again if this session trained it already. @param {Keys} K @param {AbortSignal} signal */
  async #fit(K, signal) {
    const f = this.fields.values;
    const client = /** @type {SteerScope} */ (this.client);
    const trained = TRAINED.test(String(f.method));
    const label = `${trained ? 'training' : 'fitting'} ${f.method} at layer ${f.layer}`;
    let info = null;
    try {
      if (!trained && !this.holds.acts) {
        this.stage = 'activations';
        await client.readActivations({ signal, onProgress: (d, t) => this.#setProgress('activations',
          'reading activations (one pass over the training pairs: every layer and site)', d, t) });
        this.holds.acts = true;
      }
      this.stage = 'fit';
      const spec = { method: String(f.method), layer: Number(f.layer), site: String(f.site), positions: String(f.positions) };
      const kept = this.holds.trained.get(K.fit);
      if (kept) info = await client.select(kept, Number(f.layer)).catch(() => null);
      if (!info) info = await client.fit(spec, { signal, onProgress: (d, t) => this.#setProgress('fit', label, d, t) });
    } catch (e) {
      throw this.#fail(`fit:${K.fit}`, label, e);
    }
    if (trained) this.holds.trained.set(K.fit, info.method);
    this.store.put(K.fit, info);
    this.holds.fit = K.fit;
    this.holds.remembered = '';
  }

  /** Keeps a point and notes its strength in the fit's index (which survives visits). */
  /** @param {Keys} K @param {number} m @param {boolean} random @param {SweepPoint} p */
  #storePoint(K, m, random, p) {
    this.store.put(K.point(m, random), p);
    const idx = this.store.peek(K.index) || { update: [], random: [] };
    const list = random && m !== 0 ? idx.random : idx.update;
    if (!list.includes(m)) {
      const next = { update: [...idx.update], random: [...idx.random] };
      (random && m !== 0 ? next.random : next.update).push(m);
      this.store.put(K.index, next);
    }
  }

  /** @param {Keys} K @param {number} m @param {boolean} random @param {AbortSignal} signal */
  async #point(K, m, random, signal) {
    await this.#ensureFit(K, signal);
    this.#ownWork();
    const key = K.point(m, random);
    const label = `${random ? 'random direction' : 'scoring'} at strength ${signed(m)}`;
    try {
      const p = await /** @type {SteerScope} */ (this.client).point(m, { random, signal,
        onPartial: (q) => { this.partial.set(key, q); this.#renderSoon(); },
        onProgress: (d, t) => this.#setProgress('point', label, d, t) });
      this.#storePoint(K, m, random, p);
      // A lost GPU device hands the work to the CPU: the backend line then says so.
      if (this.client?.backend?.backend === 'gpu') await this.client.refreshBackend();
      this.dispatchEvent(new CustomEvent('point', { detail: { strength: m, random, point: p }, bubbles: true, composed: true }));
    } finally {
      this.partial.delete(key);
    }
    await this.#summary(K, signal);
  }

  /** The stored summary covers exactly the stored points. @param {Keys} K */
  #summaryFresh(K) {
    const s = this.store.peek(K.summary);
    const idx = this.store.peek(K.index);
    if (!idx) return true; // nothing measured yet: nothing to fit
    if (!s) return false;
    const same = (/** @type {number[]} */ a, /** @type {number[]} */ b) => a.length === b.length && [...a].sort((x, y) => x - y).every((v, i) => v === [...b].sort((x, y) => x - y)[i]);
    return same(s.points.map((/** @type {SweepPoint} */ p) => p.strength), idx.update) &&
      same(s.random.map((/** @type {SweepPoint} */ p) => p.strength).filter((/** @type {number} */ x) => x !== 0), idx.random);
  }

  /** @param {Keys} K @param {AbortSignal} signal */
  async #summary(K, signal) {
    await this.#ensureFit(K, signal);
    this.store.put(K.summary, await /** @type {SteerScope} */ (this.client).summary());
  }

  /** @param {Keys} K @param {AbortSignal} signal */
  async #prompting(K, signal) {
    await this.#ensurePairs(K, signal);
    this.#ownWork();
    const r = await /** @type {SteerScope} */ (this.client).prompting(this.#instruction(), { signal,
      onProgress: (d, t) => this.#setProgress('point', 'scoring the prompting baseline', d, t) });
    this.store.put(K.prompting, r);
  }

  /** @param {Keys} K @param {number} m @param {AbortSignal} signal */
  async #text(K, m, signal) {
    const key = m === 0 ? K.base : K.steered;
    if (m === 0) await this.#ensurePairs(K, signal);
    else await this.#ensureFit(K, signal);
    this.#ownWork();
    const f = this.fields.values;
    this.streaming.set(key, '');
    try {
      const text = await /** @type {SteerScope} */ (this.client).generate(String(f.prompt), { strength: m, maxTokens: Number(f.max_tokens), signal,
        onToken: (piece) => { this.streaming.set(key, (this.streaming.get(key) || '') + piece); this.#renderSoon(); } });
      this.store.put(key, text);
    } finally {
      this.streaming.delete(key);
    }
  }

  // ---- actions ------------------------------------------------------------------------------------------

  /** The fitted vector at the current strength as a llama.cpp control vector (a download). */
  exportControlVector() {
    const f = this.fields.values;
    return this.#action('exporting a control vector', async (signal) => {
      const K = this.#keys();
      if (!K) throw new Error('nothing fitted yet: wait for the pairs and the model');
      await this.#ensureFit(K, signal);
      const bytes = await /** @type {SteerScope} */ (this.client).exportControlVector(Number(f.strength), { pairsSha256: K.texts.trainSha, signal });
      const info = this.store.peek(K.fit);
      download(new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' }), `${f.concept}-${info.method}-layer${info.layer}-strength${f.strength}.gguf`);
    }).catch((e) => { if (!isAbort(e)) this.#note(`exporting a control vector: ${message(e)}`, 'error'); });
  }

  /** What the figure shows, for its files: model, pairs, method, layer, strengths, seeds. */
  provenance() {
    const f = this.fields.values;
    const K = this.#keys();
    return {
      tool: 'steerscope', model_url: this.#modelUrl(), model_sha256: this.modelSha, concept: f.concept,
      train_url: this.#pairSource().train, test_url: this.#pairSource().test,
      train_sha256: K?.texts.trainSha, test_sha256: K?.texts.testSha, n_train: f.n_train, n_test: f.n_test,
      format: f.format, system: f.system || null, method: f.method, site: f.site || 'method default', layer: f.layer,
      positions: f.positions, strength: f.strength, strengths: this.#data().points.map((p) => p.strength),
      random_direction_seed: 0, greedy: true, strength_unit: '10 = an update whose Δh is half the layer\'s mean residual norm',
      created: new Date().toISOString(),
    };
  }

  /** The plot's numbers as they are drawn (live points, else precomputed ones, and baselines).
   *  @returns {LabData} */
  #data() {
    const K = this.#keys();
    const f = this.fields.values;
    const empty = { values: f, fit: null, points: [], random: [], prompting: null, summary: null, modelSha256: this.modelSha, keys: K, pre: null, partial: [] };
    const pre = this.#precomputed();
    const preSweep = pre?.sweep;
    const strengths = new Set([...(this.#sweepStrengths() || []), Number(f.strength)]);
    const idx = K ? this.store.peek(K.index) : null;
    for (const m of [...(idx?.update || []), ...(idx?.random || [])]) strengths.add(m);
    /** @type {Shown[]} */
    const points = [];
    /** @type {Shown[]} */
    const random = [];
    /** @type {Shown[]} */
    const partial = [];
    for (const m of [...strengths].sort((a, b) => a - b)) {
      for (const isRandom of [false, true]) {
        if (isRandom && m === 0) continue;
        const live = K ? this.store.peek(K.point(m, isRandom)) : undefined;
        const list = isRandom ? random : points;
        const preP = preSweep ? (isRandom ? preSweep.summary.random : preSweep.summary.points).find((/** @type {SweepPoint} */ p) => p.strength === m) : null;
        if (live) list.push({ ...live, source: 'live', confirmed: preP ? agrees(preP, live) : null });
        else if (preP) list.push({ ...preP, source: 'precomputed' });
        const part = K ? this.partial.get(K.point(m, isRandom)) : null;
        if (part && !live) partial.push({ ...part, random: isRandom, source: 'partial' });
      }
    }
    // The random direction's unsteered point is the update's own.
    const zero = points.find((p) => p.strength === 0);
    if (zero) random.push(zero);
    random.sort((a, b) => a.strength - b.strength);
    if (!K) return { ...empty, points, random, pre, partial };
    const summary = this.store.peek(K.summary) || null;
    const prompting = this.store.peek(K.prompting) || (pre ? pre.data.prompting : null);
    return { values: f, fit: this.store.peek(K.fit) || preSweep?.fit || null, points, random, partial,
      prompting, promptingSource: this.store.peek(K.prompting) ? 'live' : pre ? 'precomputed' : null,
      summary: summary || preSweep?.summary || null, summarySource: summary ? 'live' : preSweep ? 'precomputed' : null,
      modelSha256: this.modelSha, keys: K, pre };
  }

  /** The precomputed sweep for the current controls, if the file matches them (pairs, format,
   *  method, site, positions, model), with a note when one exists but does not apply. */
  #precomputed() {
    const f = this.fields.values;
    if (f.train || f.test) return null;
    const entry = this.pre.get(String(f.concept));
    const data = entry?.data;
    if (!data) return null;
    const texts = this.pairTexts.get(this.#pairSource().id);
    const pairsMatch = texts && data.pairs.train_sha256 === texts.trainSha && data.pairs.test_sha256 === texts.testSha;
    const controlsMatch = f.format === 'chat' && !f.system && f.method === data.method && (f.site === '' || f.site === 'residual') && f.positions === data.positions;
    if (!pairsMatch || !controlsMatch) return null;
    if (this.modelSha && data.model_sha256 !== this.modelSha) return { data, sweep: null, otherModel: true };
    const sweep = data.sweeps.find((/** @type {any} */ s) => s.layer === Number(f.layer)) || null;
    return { data, sweep, otherModel: false };
  }

  // ---- rendering ---------------------------------------------------------------------------------------

  /** @param {string} text @param {'note' | 'error'} [kind] */
  #note(text, kind = 'note') {
    this.notes.push({ text, kind });
    if (this.notes.length > 6) this.notes.shift();
    if (kind === 'error') this.dispatchEvent(new CustomEvent('error', { detail: { message: text }, bubbles: true, composed: true }));
    this.#renderSoon();
  }

  #renderSoon() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.#render();
    });
  }

  /** Builds the shadow tree once; #render fills it. */
  #build() {
    const ui = {};
    /** @type {(name: string, label: string, input: HTMLElement, extra?: HTMLElement) => HTMLElement} */
    const field = (name, label, input, extra) => h('label', { class: 'field', 'data-control': name }, h('span', {}, label),
      extra ? h('span', { class: 'row' }, input, extra) : input);
    ui.heading = h('h2', { hidden: true });
    ui.errors = h('div', { class: 'box-error', role: 'alert', hidden: true });
    ui.notes = h('div');
    ui.modelUrl = h('input', { type: 'url', name: 'model', spellcheck: 'false', 'aria-label': 'model URL' });
    ui.loadButton = h('button', { type: 'button', name: 'load', onclick: () => this.set('model', ui.modelUrl.value.trim()) }, 'Load');
    ui.modelFile = h('input', { type: 'file', name: 'model-file', accept: '.gguf', 'aria-label': 'a local model file' });
    ui.modelFile.addEventListener('change', () => this.#loadFile());
    ui.modelInfo = h('div', { class: 'info', 'data-role': 'model-info' });
    ui.backend = h('div', { class: 'info', 'data-role': 'backend' });
    ui.progress = h('progress');
    ui.progressLabel = h('span', { class: 'progress-label' });
    ui.progressBox = h('div', { 'data-role': 'progress', hidden: true }, ui.progress, ' ', ui.progressLabel);
    ui.status = h('div', { class: 'info', 'aria-live': 'polite', 'data-role': 'status' });
    ui.concept = h('select', { name: 'concept' });
    ui.method = h('select', { name: 'method' });
    ui.site = h('select', { name: 'site' }, ...['', 'residual', 'attn_out', 'mlp_mid', 'mlp_out'].map((s) => h('option', { value: s }, s || "method's own")));
    ui.layer = h('input', { type: 'range', name: 'layer', min: 0, max: 29, step: 1 });
    ui.layerValue = h('output');
    ui.strength = h('input', { type: 'range', name: 'strength', min: -10, max: 10, step: 0.5 });
    ui.strengthValue = h('output');
    ui.prompt = h('textarea', { name: 'prompt', rows: 3, spellcheck: 'false', title: 'Ctrl+Enter or leave the box to generate' });
    ui.maxTokens = h('input', { type: 'number', name: 'max_tokens', min: 1, max: 512 });
    ui.nTrain = h('input', { type: 'number', name: 'n_train', min: 1, max: 10000 });
    ui.nTest = h('input', { type: 'number', name: 'n_test', min: 1, max: 10000 });
    ui.format = h('select', { name: 'format' }, h('option', { value: 'chat' }, 'chat (template user turn)'), h('option', { value: 'raw' }, 'raw (text as it is)'));
    ui.system = h('input', { type: 'text', name: 'system', spellcheck: 'false', placeholder: "template's own; 'none' = no system turn" });
    ui.instruction = h('input', { type: 'text', name: 'instruction', spellcheck: 'false', placeholder: "the concept's instruction" });
    ui.engine = h('div', { class: 'info', 'data-role': 'engine' });
    ui.threads = h('select', { name: 'threads', title: 'threads for the kernels (applies on the next page load)' },
      ...[1, 2, 4, 8].map((n) => h('option', { value: n }, String(n))));
    ui.threads.addEventListener('change', () => {
      try {
        localStorage.setItem(THREADS_KEY, ui.threads.value);
        this.#note(`${ui.threads.value} thread(s) from the next page load on (needs cross-origin isolation)`);
      } catch {
        this.#note('this browser keeps no settings here: use ?threads=N in the page URL');
      }
    });
    ui.conceptInfo = h('div', { class: 'info', 'data-role': 'concept-info' });
    ui.svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (document.createElementNS('http://www.w3.org/2000/svg', 'svg')));
    ui.svg.setAttribute('class', 'plot');
    ui.svg.setAttribute('role', 'img');
    ui.svg.setAttribute('aria-label', 'preference and utility log-odds against steering strength');
    ui.preBadge = h('div', { class: 'info', 'data-role': 'precomputed' });
    ui.fitInfo = h('div', { class: 'info', 'data-role': 'fit-info' });
    ui.baselines = h('div', { class: 'info', 'data-role': 'baselines' });
    ui.summary = h('div', { class: 'info', 'data-role': 'summary' });
    ui.tbody = h('tbody');
    ui.table = h('div', { class: 'table-wrap', 'data-control': 'table' }, h('table', { 'data-role': 'points' },
      h('thead', {}, h('tr', {}, ...['strength', 'preference', '95% CI', 'utility', '95% CI', 'off-manifold', 'pairs', ''].map((t) => h('th', {}, t)))),
      ui.tbody));
    ui.baseLabel = h('h3', { 'data-role': 'base-label' }, 'base (strength 0)');
    ui.base = h('pre', { class: 'gen', 'data-role': 'base' });
    ui.steeredLabel = h('h3', { 'data-role': 'steered-label' }, 'steered');
    ui.steered = h('pre', { class: 'gen', 'data-role': 'steered' });
    ui.panels = h('div', { class: 'panels' });
    /** @type {(label: string, fn: () => void, name: string) => HTMLElement} */
    const exportButton = (label, fn, name) => h('button', { type: 'button', name: `export-${name}`, onclick: fn }, label);
    ui.root = h('div', { class: 'root', part: 'root' },
      ui.heading,
      ui.errors,
      ui.notes,
      h('section', { 'data-control': 'model' },
        h('div', { class: 'grid' },
          field('model', 'model URL', ui.modelUrl, ui.loadButton),
          h('label', { class: 'field', 'data-control': 'model' }, h('span', {}, 'or a local GGUF file'), ui.modelFile)),
        ui.modelInfo, ui.backend),
      ui.progressBox,
      h('section', { class: 'grid' },
        field('concept', 'concept', ui.concept),
        field('method', 'method', ui.method),
        field('site', 'site', ui.site),
        field('layer', 'layer', ui.layer, ui.layerValue),
        field('strength', 'strength', ui.strength, ui.strengthValue)),
      h('details', { 'data-control': 'more' }, h('summary', {}, 'more'),
        h('div', { class: 'grid' },
          field('more', 'max tokens', ui.maxTokens),
          field('more', 'training pairs', ui.nTrain),
          field('more', 'held-out pairs', ui.nTest),
          field('more', 'prompt format', ui.format),
          field('more', 'system turn', ui.system),
          field('more', 'prompting baseline instruction', ui.instruction),
          field('more', 'threads (next load)', ui.threads)),
        ui.engine),
      ui.conceptInfo,
      ui.status,
      h('section', { class: 'cols' },
        h('div', {},
          h('div', { 'data-control': 'plot' }, ui.svg, ui.preBadge),
          h('div', { class: 'exports', 'data-control': 'export' },
            exportButton('figure SVG', () => this.exportFigure('svg'), 'svg'),
            exportButton('PNG', () => this.exportFigure('png'), 'png'),
            exportButton('data CSV', () => this.exportFigure('csv'), 'csv'),
            exportButton('JSON', () => this.exportFigure('json'), 'json'),
            exportButton('llama.cpp control vector', () => this.exportControlVector(), 'cvec')),
          ui.fitInfo,
          h('div', { 'data-control': 'summary' }, ui.baselines, ui.summary),
          ui.table),
        h('div', { 'data-control': 'text' },
          h('label', { class: 'field', 'data-control': 'prompt' }, h('span', {}, 'prompt'), ui.prompt),
          ui.baseLabel, ui.base, ui.steeredLabel, ui.steered)),
      ui.panels);

    /** @type {(el: HTMLElement, ev: string, fn: (e: Event) => void) => void} */
    const on = (el, ev, fn) => el.addEventListener(ev, fn);
    on(ui.modelUrl, 'keydown', (e) => { if (/** @type {KeyboardEvent} */ (e).key === 'Enter') ui.loadButton.click(); });
    on(ui.concept, 'change', () => this.set('concept', ui.concept.value));
    on(ui.method, 'change', () => this.set('method', ui.method.value));
    on(ui.site, 'change', () => this.set('site', ui.site.value));
    // The layer follows every step: with the activations read once, a new layer costs no
    // forward pass over the training pairs, and stale work is stopped within one pair.
    on(ui.layer, 'input', () => this.set('layer', ui.layer.value));
    on(ui.strength, 'input', () => this.set('strength', ui.strength.value));
    on(ui.prompt, 'change', () => this.set('prompt', ui.prompt.value));
    on(ui.prompt, 'keydown', (e) => { const k = /** @type {KeyboardEvent} */ (e); if (k.key === 'Enter' && (k.ctrlKey || k.metaKey)) this.set('prompt', ui.prompt.value); });
    on(ui.maxTokens, 'change', () => this.set('max_tokens', ui.maxTokens.value));
    on(ui.nTrain, 'change', () => this.set('n_train', ui.nTrain.value));
    on(ui.nTest, 'change', () => this.set('n_test', ui.nTest.value));
    on(ui.format, 'change', () => this.set('format', ui.format.value));
    on(ui.system, 'change', () => this.set('system', ui.system.value));
    on(ui.instruction, 'change', () => this.set('instruction', ui.instruction.value));
    return ui;
  }

  async #loadFile() {
    const file = this.ui.modelFile.files?.[0];
    if (!file) return;
    this.#action(`loading ${file.name}`, async (signal) => {
      const client = await SteerScope.load(file, { signal, onProgress: (d, t) => this.#setProgress('load', `reading ${file.name}`, d, t) });
      this.client?.close().catch(() => {});
      this.client = client;
      this.clientFor = `file:${file.name}`;
      this.fields.set('model', '');
      this.modelSha = client.modelSha256 || `file:${file.name}`;
      this.holds = this.#emptyHolds();
      this.dispatchEvent(new CustomEvent('loaded', { detail: { info: client.info, sha256: client.modelSha256, cached: false }, bubbles: true, composed: true }));
    }).catch((e) => { if (!isAbort(e)) this.#note(`loading ${file.name}: ${message(e)}`, 'error'); });
  }

  /** Downloads the plot as SVG / PNG or its numbers as CSV / JSON, with provenance.
   *  @param {'svg' | 'png' | 'csv' | 'json'} kind */
  async exportFigure(kind) {
    const d = this.#data();
    const prov = this.provenance();
    const f = this.fields.values;
    const name = `steerscope-${f.concept}-${f.method}-layer${f.layer}`;
    const svg = svgFile(this.ui.svg, prov);
    if (kind === 'svg') download(new Blob([svg], { type: 'image/svg+xml' }), `${name}.svg`);
    else if (kind === 'png') download(await pngFile(svg), `${name}.png`);
    else if (kind === 'json') {
      const body = { provenance: prov, points: d.points, random: d.random, prompting: d.prompting, summary: d.summary, fit: d.fit };
      download(new Blob([JSON.stringify(body, null, 1)], { type: 'application/json' }), `${name}.json`);
    } else {
      /** @type {(p: any, k: string) => (number | undefined)[]} */
      const ci = (p, k) => [p[`${k}_ci`]?.lo, p[`${k}_ci`]?.hi];
      /** @type {[string, Shown][]} */
      const tagged = [...d.points.map((p) => /** @type {[string, Shown]} */ (['update', p])), ...d.random.map((p) => /** @type {[string, Shown]} */ (['random', p]))];
      /** @type {(string | number | null | undefined)[][]} */
      const rows = tagged.map(([series, p]) => [series, p.strength, p.pref_odds, ...ci(p, 'pref_odds'), p.util_odds, ...ci(p, 'util_odds'), p.off_manifold, p.n_pairs, p.source]);
      if (d.prompting?.point) rows.push(['prompting', '', d.prompting.point.pref_odds, '', '', d.prompting.point.util_odds, '', '', '', d.prompting.point.n_pairs, d.promptingSource]);
      const header = ['series', 'strength', 'pref_odds', 'pref_lo', 'pref_hi', 'util_odds', 'util_lo', 'util_hi', 'off_manifold', 'n_pairs', 'source'];
      const comment = `# ${JSON.stringify(prov)}\n`;
      download(new Blob([comment + csvFile(header, rows)], { type: 'text/csv' }), `${name}.csv`);
    }
  }

  #render() {
    const ui = this.ui;
    const f = this.fields.values;
    const d = this.#data();
    const heading = this.getAttribute('heading');
    ui.heading.hidden = !heading;
    ui.heading.textContent = heading || '';

    const nLayers = this.client?.info?.n_layers;
    if (nLayers) ui.layer.max = String(nLayers - 1);
    ui.layerValue.textContent = nLayers ? `${f.layer} / ${nLayers - 1}` : String(f.layer);
    ui.strengthValue.textContent = signed(Number(f.strength));
    /** @type {(sel: HTMLSelectElement, names: string[], current: string) => void} */
    const options = (sel, names, current) => {
      const list = names.includes(current) ? names : [...names, current];
      if ([...sel.options].map((o) => o.value).join('\n') !== list.join('\n')) {
        sel.replaceChildren(...list.map((n) => h('option', { value: n }, n)));
      }
    };
    options(ui.method, this.methods || [String(f.method)], String(f.method));
    const conceptNames = (this.concepts || []).map((c) => c.name);
    options(ui.concept, conceptNames.length ? conceptNames : [String(f.concept)], String(f.concept));
    // Controls show the values in use (clamped, defaulted; after the layer's range and the
    // options are set, so the value can be shown).
    showValues(this.shadowRoot, [ui.modelUrl, ui.prompt, ui.maxTokens, ui.nTrain, ui.nTest, ui.format, ui.system,
      ui.instruction, ui.site, ui.layer, ui.strength, ui.method, ui.concept], f);
    const c = (this.concepts || []).find((x) => x.name === f.concept);
    ui.conceptInfo.textContent = f.train ? `pairs from ${f.train}` : (c?.description || '');
    const model = this.#model();
    this.dataset.model = !model ? 'none' : this.client && this.clientFor === model ? 'ready' : this.failed.has(`load:${model}`) ? 'error' : 'loading';
    const info = this.client?.info;
    ui.modelInfo.textContent = !model ? 'no model: give a GGUF URL above (or the element\'s model attribute), or choose a local GGUF file' :
      info ? `${info.architecture} · ${info.n_layers} layers · width ${info.hidden_size} · vocab ${info.vocab_size}` +
      `${this.client?.cached ? ' · from cache' : ''} · sha256 ${String(this.modelSha).slice(0, 12)}…` : '';
    ui.backend.textContent = describeBackend(this.client?.backend);
    ui.backend.dataset.backend = this.client?.backend?.backend || '';
    ui.engine.textContent = this.engine ? `kernels: ${this.engine.kernels} · threads: ${this.engine.threads} · cross-origin isolated: ${this.engine.isolated ? 'yes' : 'no (one thread; a running call finishes before a newer one starts)'}` : '';
    if (this.engine && document.activeElement !== this && ui.threads.value !== String(this.engine.threads)) ui.threads.value = String(this.engine.threads);

    // Progress and status.
    const r = this.running;
    const p = this.progress;
    ui.progressBox.hidden = !p;
    ui.progressBox.dataset.phase = p ? p.phase : '';
    if (p) {
      if (p.total > 0) { ui.progress.max = p.total; ui.progress.value = Math.min(p.done, p.total); } else ui.progress.removeAttribute('value');
      const frac = p.total > 1e6 ? ` ${(p.done / 1e6).toFixed(1)} / ${(p.total / 1e6).toFixed(1)} MB` : p.total > 0 ? ` ${p.done} / ${p.total}` : '';
      ui.progressLabel.textContent = p.label + frac;
    }
    ui.status.textContent = r ? `${r.job.label}…` : '';
    ui.status.dataset.job = r ? r.job.phase : 'idle';
    this.dataset.busy = r ? r.job.phase : '';

    // Errors that belong to the controls on screen, then notes.
    const plan = this.#planKeys();
    const errs = [...this.failed].filter(([k]) => plan.has(k)).map(([, m]) => m);
    const notes = this.notes.filter((n) => n.kind === 'error').map((n) => n.text);
    const all = [...new Set([...errs, ...notes])];
    ui.errors.hidden = all.length === 0;
    ui.errors.replaceChildren(h('button', { type: 'button', class: 'dismiss', title: 'dismiss and retry', onclick: () => this.#dismiss() }, '×'),
      h('strong', {}, 'Error'), ...all.map((m) => h('p', {}, m)));
    const boxes = this.notes.filter((n) => n.kind !== 'error').map((n) => h('div', { class: 'box-note' }, n.text));
    if (this.pendingModel) {
      const url = this.pendingModel;
      boxes.push(h('div', { class: 'box-note', 'data-role': 'confirm-model' },
        `This link asks to download a model from ${url}, on another host (${new URL(url).host}). Load it?`, h('br'),
        h('button', { type: 'button', onclick: () => { this.pendingModel = `ok:${url}`; this.#changed(); } }, `Load from ${new URL(url).host}`),
        h('button', { type: 'button', onclick: () => { this.pendingModel = null; this.modelSource = 'default'; this.fields.set('model', STEER_PROPS[0].def); this.fields.reflect(this, 'model'); this.#changed(); } }, 'Use the default model')));
    }
    const preEntry = this.pre.get(String(f.concept));
    if (preEntry?.note) boxes.push(h('div', { class: 'box-note', 'data-role': 'precomputed-note' }, preEntry.note));
    if (d.pre?.otherModel) boxes.push(h('div', { class: 'box-note', 'data-role': 'precomputed-note' },
      `precomputed results ignored: they were made with model sha256 ${String(d.pre.data.model_sha256).slice(0, 12)}…, this model is ${String(this.modelSha).slice(0, 12)}…`));
    ui.notes.replaceChildren(...boxes);

    this.#renderPlot(d);
    this.#renderTable(d);
    this.#renderSummary(d);
    this.#renderTexts(d);
    for (const panel of this.panels) {
      try {
        panel.update(d);
      } catch (e) {
        console.error(`panel ${panel.id}:`, e);
      }
    }
  }

  /** Keys of failures that belong to the controls on screen (only their errors are shown). */
  #planKeys() {
    const K = this.#keys();
    const src = this.#pairSource();
    const keys = new Set([`pairs:${src.id}`, `pre:${this.fields.get('concept')}`, `load:${this.#model()}`]);
    if (K) {
      for (const k of [K.base, K.steered, K.prompting, K.summary, `setpairs:${K.pairs}`, `fit:${K.fit}`]) keys.add(k);
      for (const m of [...(this.#sweepStrengths() || []), Number(this.fields.get('strength'))]) {
        keys.add(K.point(m));
        keys.add(K.point(m, true));
      }
    }
    return keys;
  }

  #dismiss() {
    this.notes = this.notes.filter((n) => n.kind !== 'error');
    this.failed.clear();
    this.#changed();
  }

  /** @param {LabData} d */
  #renderPlot(d) {
    const f = this.fields.values;
    const series = [];
    /** @type {(p: any, k: string) => import('./plot.js').Mark} */
    const mark = (p, k) => ({ x: p.strength, y: p[k], lo: p[`${k}_ci`]?.lo, hi: p[`${k}_ci`]?.hi,
      kind: p.source === 'live' ? 'live' : p.source === 'partial' ? 'partial' : 'precomputed',
      title: `strength ${signed(p.strength)}: ${k === 'pref_odds' ? 'preference' : 'utility'} ${fmt(p[k])}` +
        (p[`${k}_ci`] ? ` [${fmt(p[`${k}_ci`].lo)}, ${fmt(p[`${k}_ci`].hi)}]` : '') + ` (${p.n_pairs} pairs, ${p.source})` });
    const partialUpdate = d.partial.filter((p) => !p.random);
    series.push({ name: 'preference', legend: 'preference', color: '#1f6fd1', points: [...d.points, ...partialUpdate].filter((p) => p.pref_odds != null).map((p) => mark(p, 'pref_odds')) });
    series.push({ name: 'utility', legend: 'utility', color: '#c45a12', dash: '6 4', points: [...d.points, ...partialUpdate].filter((p) => p.util_odds != null).map((p) => mark(p, 'util_odds')) });
    series.push({ name: 'random', legend: 'random direction (pref)', color: '#8a8f98', dash: '2 3', width: 1.2,
      points: [...d.random, ...d.partial.filter((p) => p.random)].filter((p) => p.pref_odds != null).map((p) => mark(p, 'pref_odds')) });
    const pp = d.prompting?.point;
    series.push({ name: 'prompting', legend: 'prompting (pref)', color: '#2a9d4b', dash: '8 4', width: 1.2, points: [], hline: pp ? pp.pref_odds : null });
    renderPlot(this.ui.svg, { series, xLabel: 'strength (10: Δh = ½ mean residual norm)', yLabel: 'log-odds',
      marker: Number(f.strength), xRange: [-10.5, 10.5] });
    const pre = d.points.filter((p) => p.source === 'precomputed').length + d.random.filter((p) => p.source === 'precomputed').length;
    const live = d.points.filter((p) => p.source === 'live');
    const confirmed = live.filter((p) => p.confirmed === true).length;
    const differs = live.filter((p) => p.confirmed === false);
    const badge = this.ui.preBadge;
    badge.dataset.precomputed = String(pre);
    badge.dataset.confirmed = String(confirmed);
    badge.textContent = pre ? `hollow points are precomputed (steerscope precompute, same model and pairs); ${pre} not yet confirmed live, ${confirmed} confirmed` :
      confirmed ? `all ${confirmed} precomputed points confirmed live` : '';
    if (differs.length) badge.textContent += ` — live differs from precomputed at ${differs.map((p) => signed(p.strength)).join(', ')}`;
  }

  /** @param {LabData} d */
  #renderTable(d) {
    /** @type {(p: any, k: string) => string} */
    const ci = (p, k) => (p[`${k}_ci`] ? `[${fmt(p[`${k}_ci`].lo, 2)}, ${fmt(p[`${k}_ci`].hi, 2)}]` : '');
    const rows = [...d.points, ...d.partial.filter((p) => !p.random)].sort((a, b) => a.strength - b.strength).map((p) => {
      const tr = h('tr', { class: p.source, 'data-strength': p.strength, 'data-pref': p.pref_odds, 'data-util': p.util_odds ?? '',
        'data-off-manifold': p.off_manifold ?? '', 'data-source': p.source, 'data-pairs': p.n_pairs },
      ...[signed(p.strength), fmt(p.pref_odds), ci(p, 'pref_odds'), fmt(p.util_odds), ci(p, 'util_odds'), fmt(p.off_manifold, 2),
        String(p.n_pairs), p.source === 'live' ? '' : p.source].map((t) => h('td', {}, t)));
      return tr;
    });
    this.ui.tbody.replaceChildren(...rows);
  }

  /** @param {LabData} d */
  #renderSummary(d) {
    const f = this.fields.values;
    const fit = d.fit;
    this.ui.fitInfo.textContent = fit ? `${fit.method} at layer ${fit.layer} (${fit.site}): mean |Δh| ${fmt(fit.effect_norm, 2)} as found, ` +
      `rescaled so 10 = half the mean residual norm ${fmt(fit.mean_hidden_norm, 2)}${d.keys && this.store.peek(d.keys.fit) ? '' : ' (precomputed)'}` : '';
    const p = d.prompting;
    const b = this.ui.baselines;
    b.dataset.promptingPref = p?.point ? String(p.point.pref_odds) : '';
    b.dataset.random = JSON.stringify(d.random.filter((q) => q.strength !== 0).map((q) => ({ strength: q.strength, pref: q.pref_odds, source: q.source })));
    b.textContent = p?.point ? `prompting baseline (no steering, system prompt "${p.instruction}"): preference ${fmt(p.point.pref_odds)}, ` +
      `utility ${fmt(p.point.util_odds)}${d.promptingSource === 'precomputed' ? ' (precomputed)' : ''}` : p?.unavailable ? `prompting baseline unavailable: ${p.unavailable}` : '';
    const s = d.summary;
    const box = this.ui.summary;
    const here = d.points.find((q) => q.strength === Number(f.strength));
    const lines = [];
    if (here) lines.push(`at strength ${signed(Number(f.strength))}: off-manifold score ${fmt(here.off_manifold, 2)} (1 = as far from the unsteered activations' subspace as unsteered text is)`);
    if (s) {
      /** @type {(name: string, c: any, r2: number | null | undefined) => string} */
      const curve = (name, c, r2) => {
        if (!c) return `${name}: —`;
        if (c.Err !== undefined) return `${name}: no fit (${c.Err})`;
        const ok = c.Ok || c;
        const deg = ok.degenerate ? ` — degenerate: ${typeof ok.degenerate === 'string' ? ok.degenerate : JSON.stringify(ok.degenerate)}` : '';
        return `${name} R² ${fmt(r2)}${deg}`;
      };
      const cv = s.curves || {};
      lines.push(`curve model (the paper's rational-quadratic, fitted on these points): ${curve('preference', cv.preference, cv.preference_r2?.[1])} · ` +
        `${curve('utility', cv.utility, cv.utility_r2?.[1])} · ρ(off-manifold, utility drop) ${fmt(s.manifold_vs_utility_drop, 2)} · ` +
        `off-manifold reference: ${s.manifold_rank || '—'} directions${d.summarySource === 'precomputed' ? ' (precomputed)' : ''}`);
      if (s.applied === false) lines.push('steering was not applied: no nonzero strength changed any score');
    }
    box.replaceChildren(...lines.map((l) => h('div', {}, l)));
    box.dataset.applied = String(s?.applied ?? '');
    box.dataset.offManifold = here?.off_manifold == null ? '' : String(here.off_manifold);
    box.dataset.source = d.summarySource || '';
  }

  /** @param {LabData} d */
  #renderTexts(d) {
    const f = this.fields.values;
    const K = d.keys;
    /** @type {(el: HTMLElement, label: HTMLElement, key: string | undefined, m: number, which: string) => void} */
    const show = (el, label, key, m, which) => {
      const done = K && key ? this.store.peek(key) : undefined;
      const part = K && key ? this.streaming.get(key) : undefined;
      el.textContent = done ?? part ?? '';
      el.dataset.strength = String(m);
      el.dataset.done = String(done !== undefined);
      el.classList.toggle('stale', done === undefined);
      label.textContent = which === 'base' ? 'base (strength 0)' : `steered (strength ${signed(m)})${done === undefined ? (part !== undefined ? ' — generating…' : ' — waiting') : ''}`;
    };
    show(this.ui.base, this.ui.baseLabel, K?.base, 0, 'base');
    const m = Number(f.strength);
    if (m === 0) {
      show(this.ui.steered, this.ui.steeredLabel, K?.base, 0, 'steered');
      this.ui.steeredLabel.textContent = 'steered (strength 0 = the base model)';
    } else show(this.ui.steered, this.ui.steeredLabel, K?.steered, m, 'steered');
  }
}

/** Whether a live point confirms a precomputed one (preference and utility within the tolerance). */
/** @param {SweepPoint} pre @param {SweepPoint} live */
function agrees(pre, live) {
  /** @type {(a: number | null | undefined, b: number | null | undefined) => boolean} */
  const close = (a, b) => (a == null && b == null) || (a != null && b != null && Math.abs(a - b) <= CONFIRM_TOLERANCE);
  return close(pre.pref_odds, live.pref_odds) && close(pre.util_odds, live.util_odds);
}

if (!customElements.get('steer-lab')) customElements.define('steer-lab', SteerLab);

/** The backend line: where points are scored, why, and the probe's times when there was one.
 *  @param {import('./client.js').Backend | undefined} b @returns {string} */
function describeBackend(b) {
  if (!b) return '';
  const where = b.backend === 'gpu' ? `GPU (WebGPU: ${b.adapter?.name || 'adapter'})` : 'CPU (wasm kernels)';
  const probe = b.probe_ms ? ` · probe (${b.probe_ms.tokens} tokens + 1, ${b.probe_ms.layers} layers): CPU ${b.probe_ms.cpu.toFixed(1)} ms, GPU ${b.probe_ms.gpu.toFixed(1)} ms` : '';
  return `points scored on: ${where} — ${b.note}${probe}`;
}
