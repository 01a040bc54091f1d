// The promise-based client of steerscope: `SteerScope` (steering a language model) and
// `AttentionLab` (the composition task), each owning its worker. Callers never see a message:
// every call returns a promise, long calls take `{signal, onProgress}`, and an aborted call
// rejects with the signal's reason (an `AbortError` DOMException by default).
//
//   const s = await SteerScope.load('models/model.gguf', { onProgress: (d, t) => … });
//   await s.setPairs({ train: trainJsonl, test: testJsonl });
//   await s.fit({ method: 'diffmean', layer: 15 });
//   const p = await s.point(4, { onPartial: (q) => … });   // preference, utility, intervals
//   const text = await s.generate('Tell me a story.', { strength: 4, onToken: (t) => … });
//
// One worker per page serves every SteerScope: loading the same model URL twice downloads and
// parses it once, and each SteerScope is its own experiment (pairs, updates, points) over it.
// Cancellation: when the page is cross-origin isolated, an abort sets a flag in shared memory
// that the running wasm call reads after each pair / step / token, so it stops within one of
// those; otherwise a running call finishes in the worker (its result is dropped) and only
// queued calls are dropped. `SteerScope.engine()` says which.

/**
 * @typedef {{ signal?: AbortSignal, onProgress?: (done: number, total: number) => void }} CallOptions
 * @typedef {{ onProgress?: (done: number, total: number, loss?: number) => void, onPartial?: (v: any) => void,
 *   onToken?: (piece: string) => void }} Listeners
 * @typedef {{ resolve: (v: any) => void, reject: (e: any) => void } & Listeners} Pending
 *
 * A 95% bootstrap interval over pairs.
 * @typedef {{ lo: number, hi: number }} Interval
 *
 * One strength's numbers on the held-out pairs (the core's `SweepPoint`): preference and
 * utility log-odds (means over pairs), their intervals where the core gives them, and the
 * off-manifold score (1 = as far from the unsteered activations' subspace as unsteered text).
 * @typedef {{ strength: number, n_pairs: number, lp: number, ln: number, pref_odds: number,
 *   util_odds: number | null, util_undefined: number, off_manifold: number | null,
 *   pref_odds_ci?: Interval | null, util_odds_ci?: Interval | null, accuracy?: number,
 *   pref_odds_summed?: number, util_odds_summed?: number | null, [more: string]: unknown }} SweepPoint
 *
 * An update as fitted, trained or loaded, in strength units.
 * @typedef {{ method: string, layer: number, site: string, positions: string, reads: string,
 *   effect_norm: number, mean_hidden_norm: number, to_strength_units: number }} UpdateInfo
 *
 * The update's points so far with the applied check, the off-manifold reference's rank, the
 * rank correlation of leaving the manifold with losing utility, and the curve fits.
 * @typedef {{ points: SweepPoint[], random: SweepPoint[], applied: boolean | null, manifold_rank: number,
 *   manifold_vs_utility_drop: number | null, curves: any }} Summary
 *
 * The prompting baseline: the concept asked for in the system prompt, unsteered.
 * @typedef {{ instruction: string, point: SweepPoint }} Prompting
 *
 * The model's architecture numbers.
 * @typedef {{ architecture: string, name?: string, n_layers: number, hidden_size: number, vocab_size: number,
 *   context_length: number, chat_template: boolean }} ModelInfo
 *
 * @typedef {{ n_train: number, n_test: number, format: string, kept_updates: boolean }} PairsInfo
 * @typedef {{ threads: number, isolated: boolean, shared: boolean, kernels: string }} EngineInfo
 * @typedef {{ backend: 'cpu' | 'gpu', note: string, adapter?: { name: string, software: boolean },
 *   probe_ms?: { cpu: number, gpu: number, tokens: number, layers: number } }} Backend
 * @typedef {{ model: string, info: ModelInfo, sha256: string, cached: boolean, reused?: boolean, backend: Backend }} Loaded
 */

const SLOTS = 1024;

/** The reason an aborted signal rejects with (an AbortError unless the caller gave one). */
/** @param {AbortSignal | undefined} signal */
function abortReason(signal) {
  return signal && signal.reason !== undefined ? signal.reason : new DOMException('The call was aborted.', 'AbortError');
}

/** One worker and its calls: ids, listeners, abort flags. */
class Channel {
  /**
   * @param {URL} url the worker script
   * @param {boolean} shareFlags pass a SharedArrayBuffer of stop flags (cross-origin isolated)
   * @param {number} threads
   * @param {string} [backend] where points are scored: auto, cpu or gpu (the steering worker)
   */
  constructor(url, shareFlags, threads, backend = 'auto') {
    this.url = url;
    this.worker = new Worker(url, { type: 'module' });
    this.flags = shareFlags && typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated
      ? new Int32Array(new SharedArrayBuffer(4 * SLOTS)) : null;
    this.worker.postMessage({ type: 'init', flags: this.flags ? this.flags.buffer : null, threads, backend });
    /** @type {Map<number, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = ({ data: m }) => this.receive(m);
    this.worker.onerror = (e) => this.failAll(new Error(`worker ${url.pathname}: ${e.message || 'failed to start'}`));
    this.worker.onmessageerror = () => this.failAll(new Error('worker: a message could not be decoded'));
  }

  /** @param {Error} err */
  failAll(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** @param {any} m */
  receive(m) {
    const p = this.pending.get(m.id);
    if (!p) return; // aborted meanwhile: its late messages are dropped
    if (m.type === 'progress') p.onProgress?.(m.done, m.total, m.loss);
    else if (m.type === 'partial') p.onPartial?.(m.value);
    else if (m.type === 'token') p.onToken?.(m.piece);
    else {
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.value);
      else if (m.name === 'AbortError') p.reject(new DOMException(m.message, 'AbortError'));
      else p.reject(new Error(m.message));
    }
  }

  /**
   * @param {string} op
   * @param {object} args
   * @param {Listeners & { signal?: AbortSignal, transfer?: Transferable[] }} [opts]
   */
  call(op, args, opts = {}) {
    const { signal, transfer, ...listeners } = opts;
    return new Promise((/** @type {(v: any) => void} */ resolve, /** @type {(e: any) => void} */ reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const id = this.nextId++;
      const slot = id % SLOTS;
      if (this.flags) Atomics.store(this.flags, slot, 0);
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        if (this.flags) Atomics.store(this.flags, slot, 1);
        this.worker.postMessage({ type: 'abort', id });
        reject(abortReason(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        ...listeners,
        resolve: (v) => { done(); resolve(v); },
        reject: (e) => { done(); reject(e); },
      });
      this.worker.postMessage({ type: 'call', id, slot, op, args }, transfer || []);
    });
  }

  terminate() {
    this.worker.terminate();
    this.failAll(new DOMException('The worker was stopped.', 'AbortError'));
  }
}

/** @type {Channel | null} */
let steering = null;
/** Threads asked for with setThreads (0: not asked). */
let wantedThreads = 0;
/** Where a visitor's choice of threads is kept (the lab's "more" panel). */
export const THREADS_KEY = 'steerscope-threads';

/** Threads for the kernels: setThreads, else `?threads=N` in the page URL, else the visitor's
 *  saved choice, else one. More than one needs cross-origin isolation and the threaded build;
 *  without either the worker runs one thread and says so (`SteerScope.engine()`). */
function threads() {
  if (wantedThreads) return wantedThreads;
  const fromUrl = Number(new URLSearchParams(globalThis.location?.search || '').get('threads'));
  if (Number.isInteger(fromUrl) && fromUrl >= 1) return Math.min(fromUrl, 16);
  let saved = 0;
  try {
    saved = Number(globalThis.localStorage?.getItem(THREADS_KEY));
  } catch { /* storage blocked */ }
  return Number.isInteger(saved) && saved >= 1 ? Math.min(saved, 16) : 1;
}

/** Where points are scored: `?backend=cpu|gpu|auto` in the page URL, else `auto` (the worker
 *  probes a hardware GPU at load and keeps the faster; see `SteerScope#backend`). */
function backend() {
  const b = new URLSearchParams(globalThis.location?.search || '').get('backend');
  return b === 'cpu' || b === 'gpu' ? b : 'auto';
}

/** The page's one steering worker (made on first use). */
function channel() {
  if (!steering) steering = new Channel(new URL('./worker.js', import.meta.url), true, threads(), backend());
  return steering;
}

/** Bytes of a model or file given as a Blob, ArrayBuffer or typed array. */
/** @param {Blob | ArrayBuffer | ArrayBufferView} src @returns {Promise<Uint8Array>} */
async function bytesOf(src) {
  if (src instanceof Blob) return new Uint8Array(await src.arrayBuffer());
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (ArrayBuffer.isView(src)) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  throw new TypeError('expected a URL, Blob, ArrayBuffer or typed array');
}

/** Where relative URLs resolve: the document, or the worker/module scope. */
const base = () => (typeof document !== 'undefined' ? document.baseURI : String(globalThis.location?.href));

/** A steering experiment on a loaded model: pairs, updates, points, generation. */
export class SteerScope {
  /**
   * Loads a GGUF model (URL, Blob or bytes; a URL already loaded on this page is reused) and
   * opens an experiment on it.
   * @param {string | URL | Blob | ArrayBuffer | ArrayBufferView} source
   * @param {CallOptions} [opts]
   * @returns {Promise<SteerScope>}
   */
  static async load(source, opts = {}) {
    const ch = channel();
    const args = typeof source === 'string' || source instanceof URL
      ? { url: new URL(String(source), base()).href }
      : { bytes: await bytesOf(source), name: source instanceof File ? source.name : 'bytes' };
    const loaded = /** @type {Loaded} */ (await ch.call('load', args, opts));
    const id = /** @type {number} */ (await ch.call('open', { model: loaded.model }, { signal: opts.signal }));
    return new SteerScope(ch, id, loaded);
  }

  /** The strengths a sweep measures by default (from the core). @returns {Promise<number[]>} */
  static defaultStrengths() {
    return channel().call('defaultStrengths', {});
  }

  /** The methods `fit` accepts (from the core). @returns {Promise<string[]>} */
  static methods() {
    return channel().call('methods', {});
  }

  /**
   * The worker's threads, whether calls can be stopped mid-way (shared memory), and the CPU
   * kernels its wasm build runs (`relaxed-simd` where the browser has relaxed SIMD, else `simd128`).
   * @returns {Promise<EngineInfo>}
   */
  static engine() {
    return channel().call('engine', {});
  }

  /**
   * Threads for the kernels (takes effect before the worker starts; 1 without cross-origin
   * isolation or without the threaded build).
   * @param {number} n
   */
  static setThreads(n) {
    if (steering) throw new Error('setThreads must be called before the first SteerScope call');
    wantedThreads = Math.max(1, Math.floor(n));
  }

  /**
   * @param {Channel} ch
   * @param {number} id
   * @param {Loaded} loaded
   */
  constructor(ch, id, loaded) {
    this.channel = ch;
    this.id = id;
    /** The model's architecture numbers. */
    this.info = loaded.info;
    /** sha256 of the model file (hex). */
    this.modelSha256 = loaded.sha256;
    /** Whether the model came from this browser's cache. */
    this.cached = loaded.cached;
    /** The model's key in the worker (its URL, or `sha256:<hex>` for bytes). */
    this.model = loaded.model;
    /** Where points are scored (CPU or GPU), why, and the probe's times when there was one. */
    this.backend = loaded.backend;
  }

  /** Asks the worker where points are scored now (a lost GPU device moves them to the CPU).
   *  @returns {Promise<Backend>} */
  async refreshBackend() {
    this.backend = await this.#call('backend');
    return this.backend;
  }

  /** Destroys the GPU device, as a driver reset would: the next point falls back to the CPU
   *  (for tests of that fallback). @returns {Promise<null>} */
  loseDevice() {
    return this.#call('loseDevice');
  }

  /** @param {string} op @param {object} [args] @param {Listeners & {signal?: AbortSignal}} [opts] @returns {Promise<any>} */
  #call(op, args = {}, opts = {}) {
    return this.channel.call(op, { experiment: this.id, ...args }, opts);
  }

  /**
   * Polarity pairs (JSONL text) to fit on (`train`) and measure on (`test`); drops every update.
   * @param {{train: string, test: string, format?: 'chat' | 'raw', system?: string}} pairs
   * @param {{signal?: AbortSignal}} [opts]
   * @returns {Promise<PairsInfo>}
   */
  setPairs(pairs, opts = {}) {
    return this.#call('setPairs', pairs, opts);
  }

  /** One forward pass over the training pairs reads every layer and site; afterwards DiffMean
   *  and PCA fit at any layer and site without another. @param {CallOptions} [opts] @returns {Promise<null>} */
  readActivations(opts = {}) {
    return this.#call('readActivations', {}, opts);
  }

  /** @returns {Promise<boolean>} */
  hasActivations() {
    return this.#call('hasActivations');
  }

  /**
   * Fits (DiffMean, PCA) or trains (vector / LoRA / local weight × SFT / SPLIT) an update and
   * makes it current. @param {{method?: string, layer: number, site?: string, positions?: string,
   * epochs?: number}} spec @param {CallOptions} [opts]
   * @returns {Promise<UpdateInfo>}
   */
  fit(spec, opts = {}) {
    return this.#call('fit', { method: 'diffmean', site: '', positions: 'all', epochs: 1, ...spec }, opts);
  }

  /** Makes an update fitted earlier current again (at `layer`, default the current one; its
   *  points are still there). @param {string} name @param {number} [layer] @returns {Promise<UpdateInfo>} */
  select(name, layer) {
    return this.#call('select', { name, layer });
  }

  /** Every update of the current layer. @returns {Promise<UpdateInfo[]>} */
  updates() {
    return this.#call('updates');
  }

  /** An update file (safetensors from `steerscope vector` / `train`).
   *  @param {ArrayBuffer | ArrayBufferView | Blob} file @param {string} [name]
   *  @param {{signal?: AbortSignal}} [opts] @returns {Promise<UpdateInfo>} */
  async loadUpdate(file, name, opts = {}) {
    return this.#call('loadUpdate', { bytes: await bytesOf(file), name }, opts);
  }

  /** A llama.cpp control-vector GGUF. @param {ArrayBuffer | ArrayBufferView | Blob} file
   *  @param {string} [name] @param {{signal?: AbortSignal}} [opts] @returns {Promise<UpdateInfo>} */
  async loadControlVector(file, name, opts = {}) {
    return this.#call('loadControlVector', { bytes: await bytesOf(file), name }, opts);
  }

  /**
   * The held-out point at `strength` (10 = Δh of half the layer's mean residual norm):
   * preference, utility, their intervals, off-manifold score. `onPartial` gets the estimate
   * after each pair. @param {number} strength
   * @param {CallOptions & {random?: boolean, onPartial?: (p: SweepPoint) => void}} [opts]
   * @returns {Promise<SweepPoint>}
   */
  point(strength, opts = {}) {
    const { random = false, ...rest } = opts;
    return this.#call('point', { strength, random }, rest);
  }

  /**
   * Points at each of `strengths` (default: the core's), in order; `onPoint` after each.
   * @param {number[] | undefined} strengths
   * @param {CallOptions & {random?: boolean, onPoint?: (p: SweepPoint) => void}} [opts]
   * @returns {Promise<SweepPoint[]>}
   */
  async sweep(strengths, opts = {}) {
    const list = strengths || (await SteerScope.defaultStrengths());
    const out = [];
    for (const [i, m] of list.entries()) {
      const p = await this.point(m, { random: opts.random, signal: opts.signal });
      out.push(p);
      opts.onPoint?.(p);
      opts.onProgress?.(i + 1, list.length);
    }
    return out;
  }

  /** Points measured earlier for the current update (e.g. kept across visits) so they are not
   *  measured again and join `summary()`. @param {SweepPoint[]} points @param {{random?: boolean}} [opts] @returns {Promise<number>} */
  remember(points, opts = {}) {
    return this.#call('remember', { points, random: !!opts.random });
  }

  /** Points so far with the applied check, off-manifold rank and correlation, and curve fits. @returns {Promise<Summary>} */
  summary() {
    return this.#call('summary');
  }

  /** The prompting baseline: the concept asked for in the system prompt, unsteered.
   *  @param {string} [instruction] @param {CallOptions} [opts] @returns {Promise<Prompting>} */
  prompting(instruction = '', opts = {}) {
    return this.#call('prompting', { instruction }, opts);
  }

  /**
   * Greedy text, steered at `strength` (0 = base model); `onToken` streams the pieces.
   * @param {string} prompt
   * @param {{strength?: number, maxTokens?: number, onToken?: (piece: string) => void, signal?: AbortSignal}} [opts]
   * @returns {Promise<string>}
   */
  generate(prompt, opts = {}) {
    const { strength = 0, maxTokens = 32, ...rest } = opts;
    return this.#call('generate', { prompt, strength, maxTokens }, rest);
  }

  /** The current vector at `strength` as a llama.cpp control-vector GGUF.
   *  @param {number} strength @param {{pairsSha256?: string, signal?: AbortSignal}} [opts]
   *  @returns {Promise<Uint8Array>} */
  exportControlVector(strength, opts = {}) {
    const { pairsSha256 = '', ...rest } = opts;
    return this.#call('controlVector', { strength, modelSha256: this.modelSha256, pairsSha256 }, rest);
  }

  /** The current update at strength 1 as a vector (null for a weight update). @returns {Promise<Float32Array | null>} */
  vector() {
    return this.#call('vector');
  }

  /**
   * Calls any other method of the wasm `Session` of this experiment by name (for views that use
   * wasm calls this client has no wrapper for yet); `progress: true` appends the progress
   * callback (`onProgress`, with stop on abort) as the last argument.
   * @param {string} method @param {any[]} [args]
   * @param {CallOptions & {progress?: boolean}} [opts]
   * @returns {Promise<any>}
   */
  invoke(method, args = [], opts = {}) {
    const { progress = false, ...rest } = opts;
    return this.#call('invoke', { method, args, progress }, rest);
  }

  /** Frees the experiment (the model stays loaded for the page's other experiments). @returns {Promise<null>} */
  close() {
    return this.#call('close');
  }
}

/** The attention lab (no language model): sample, hand-set construction, training. Each call
 *  may be aborted; an abort stops the lab's worker and starts a fresh one (it keeps no state). */
export class AttentionLab {
  constructor() {
    /** @type {Channel | null} */
    this.ch = null;
  }

  #channel() {
    if (!this.ch) this.ch = new Channel(new URL('./lab-worker.js', import.meta.url), false, 1);
    return this.ch;
  }

  /** @param {string} op @param {object} args @param {Listeners & {signal?: AbortSignal}} [opts] @returns {Promise<any>} */
  #call(op, args, opts = {}) {
    const ch = this.#channel();
    const { signal } = opts;
    if (signal) {
      signal.addEventListener('abort', () => {
        if (this.ch === ch) {
          ch.terminate();
          this.ch = null;
        }
      }, { once: true });
    }
    return ch.call(op, args, opts);
  }

  /** One seeded prompt of the task. @param {{lookup: boolean, L: number, k: number, seed: number}} a @param {CallOptions} [opts] */
  sample(a, opts = {}) {
    return this.#call('sample', a, opts);
  }

  /** The hand-set (L+1)-layer construction on seeded instances.
   *  @param {{lookup: boolean, L: number, k: number, beta?: number | null, instances: number}} a @param {CallOptions} [opts] */
  construct(a, opts = {}) {
    return this.#call('construct', a, opts);
  }

  /** Trains one model (layer spec like `F*3`, `F,L:gdn`).
   *  @param {{lookup: boolean, L: number, k: number, spec: string, d: number, steps: number, seed: number}} a
   *  @param {CallOptions} [opts] */
  train(a, opts = {}) {
    return this.#call('train', a, opts);
  }
}
