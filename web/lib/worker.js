// The steering worker: every model and every experiment of the page live here, in one wasm
// instance, so two <steer-lab> elements share one download and one copy of the weights. The
// client (client.js) is the only thing that talks to it; callers never see these messages.
//
// Messages in:  {type: 'init', flags: SharedArrayBuffer | null, threads: number,
//                backend: 'auto' | 'cpu' | 'gpu'}
//               {type: 'call', id, slot, op, args}   (ops below)
//               {type: 'abort', id}                  (drops a queued call; a running one reads
//                                                     its flag in `flags[slot]`)
// Messages out: {id, type: 'progress', done, total} | {id, type: 'partial', value}
//               | {id, type: 'token', piece} | {id, type: 'result', value}
//               | {id, type: 'error', message, name}   (name 'AbortError' when cancelled)
//
// Calls run one at a time, in order. A wasm call is synchronous and blocks this worker, so a
// newer message cannot be read while it runs: cancellation goes through shared memory instead.
// Every long wasm call reports progress after each unit of work (a pair, a training step, a
// token); the callback reads this call's flag with Atomics.load and returns `true` to stop, and
// the call throws "cancelled" with the session still usable. The same read is installed as the
// core's interrupt (set_stop_check), asked before every layer of every forward pass, so a call
// stops within one layer's time even in the middle of a pair. Without cross-origin isolation
// there is no shared memory: a running call then finishes (its result is dropped by the client)
// and only queued calls are dropped.
//
// Backend: at load the worker picks where a model's points are scored (pickBackend): the GPU
// (WebGPU, the core's engine in the same wasm instance) when asked, or with `auto` when a
// hardware adapter beats the CPU on a short probe; else the CPU, saying why. A GPU point is the
// core's point loop awaited (Session.point_async); after a lost device the core measures the point
// on the CPU, the worker moves the model's other sessions there too, and the backend line says so.
import { errText, loadWasm, plain } from '../wasm.js';
import { checkMagic, fetchModel, sha256Hex } from './model-file.js';

/** @type {Int32Array | null} */
let flags = null;
/** @typedef {{id: number, slot: number, op: string, args: any, aborted?: boolean}} Request */
/** @type {Request[]} */
const queue = [];
/** @type {Request | null} */
let running = null;
let pumping = false;
/** @typedef {{backend: 'cpu' | 'gpu', note: string, adapter?: any, probe_ms?: {cpu: number, gpu: number, tokens: number, layers: number}}} Backend */
/** model key (URL or `sha256:<hex>`) → {session, info, sha256, cached, source, gpu, backend} */
/** @type {Map<string, {session: any, info: any, sha256: string, cached: boolean, source: string, gpu: any, backend: Backend}>} */
const models = new Map();
/** experiment id → {session, model} @type {Map<number, {session: any, model: string}>} */
const experiments = new Map();
let nextExperiment = 1;
/** @type {any} the wasm-bindgen module, once initialised */
let wasm = null;
let threadsWanted = 1;
let threadsActive = 1;
/** @type {'auto' | 'cpu' | 'gpu'} */
let backendWanted = 'auto';
/** The probe both engines run at load: a prefill of this many tokens and one decode step
 *  through the first layers (a few layers' work: quick even on a slow adapter). */
const PROBE_TOKENS = 16;
const PROBE_LAYERS = 2;

/** @param {any} msg @param {Transferable[]} [transfer] */
const post = (msg, transfer) => self.postMessage(msg, transfer || []);

self.onmessage = ({ data: m }) => {
  if (m.type === 'init') {
    flags = m.flags ? new Int32Array(m.flags) : null;
    threadsWanted = m.threads || 1;
    backendWanted = ['cpu', 'gpu'].includes(m.backend) ? m.backend : 'auto';
  } else if (m.type === 'abort') {
    const i = queue.findIndex((q) => q.id === m.id);
    if (i >= 0) {
      queue.splice(i, 1);
      post({ id: m.id, type: 'error', name: 'AbortError', message: 'cancelled' });
    } else if (running && running.id === m.id) running.aborted = true;
  } else if (m.type === 'call') {
    queue.push(m);
    pump();
  }
};

async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    while (queue.length) {
      const req = /** @type {Request} */ (queue.shift());
      running = req;
      const c = ctx(req);
      try {
        const op = OPS[req.op];
        if (!op) throw new Error(`unknown call: ${req.op}`);
        // Besides the per-pair progress callbacks, every forward pass asks the flag before each
        // layer: a superseded call stops within a layer's time.
        wasm?.set_stop_check(c.stopped);
        const { value, transfer } = wrap(await op(req.args, c));
        post({ id: req.id, type: 'result', value }, transfer);
      } catch (e) {
        const message = errText(e);
        const name = message === 'cancelled' || (e instanceof Error && e.name === 'AbortError') ? 'AbortError' : 'Error';
        post({ id: req.id, type: 'error', name, message });
      } finally {
        wasm?.set_stop_check(undefined);
      }
      running = null;
      // Let queued messages (aborts, newer calls) land before the next call starts.
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    pumping = false;
  }
}

/** A result, with the buffers to transfer rather than copy. @param {any} value @returns {{value: any, transfer: Transferable[]}} */
function wrap(value) {
  if (value instanceof Uint8Array || value instanceof Float32Array) return { value, transfer: [value.buffer] };
  return { value, transfer: [] };
}

/**
 * What an op gets to talk back through: progress, partial results, tokens, and its stop flag.
 * @typedef {{ stopped: () => boolean, progress: (done: number, total: number) => boolean,
 *   partial: (value: any) => void, token: (piece: string) => boolean, id: number }} Ctx
 * @param {Request} req @returns {Ctx}
 */
function ctx(req) {
  const stopped = () => !!req.aborted || (flags !== null && Atomics.load(flags, req.slot) === 1);
  return {
    stopped,
    /** A wasm progress callback `(done, total) => stop?`. */
    progress: (done, total) => {
      post({ id: req.id, type: 'progress', done, total });
      return stopped();
    },
    partial: (value) => post({ id: req.id, type: 'partial', value: plain(value) }),
    token: (piece) => {
      post({ id: req.id, type: 'token', piece });
      return stopped();
    },
    id: req.id,
  };
}

/** The wasm module: the threaded build (web/pkg/threads/, a pool of `threadsWanted` workers
 *  sharing its memory) when more than one thread is wanted and the page is cross-origin
 *  isolated, else the single-threaded one (web/wasm.js picks among those builds). */
async function ensureWasm() {
  if (!wasm) {
    if (threadsWanted > 1 && self.crossOriginIsolated) {
      try {
        const mod = await import(new URL('../pkg/threads/steerscope_wasm.js', import.meta.url).href);
        await mod.default();
        await mod.initThreadPool(threadsWanted);
        threadsActive = threadsWanted;
        wasm = mod;
      } catch (e) {
        console.warn(`steerscope: threaded build unavailable, one thread (${errText(e)})`);
      }
    }
    if (!wasm) wasm = await loadWasm();
  }
  return wasm;
}

/** @param {number} id */
function experiment(id) {
  const e = experiments.get(id);
  if (!e) throw new Error(`no experiment ${id} (closed, or its model failed to load)`);
  return e.session;
}

// ---------------------------------------------------------------------------------------------
// The calls. Each takes its arguments and the context; what it returns goes back as the result.

/** @type {Record<string, (a: any, c: Ctx) => any>} */
const OPS = {
  async load(a, c) {
    const key = a.url || null;
    if (key && models.has(key)) return describe(key, true);
    const [w, got] = await Promise.all([
      ensureWasm(),
      a.bytes ? { bytes: new Uint8Array(a.bytes), save: null, cached: false, sha256: '' } : fetchModel(a.url, c),
    ]);
    checkMagic(got.bytes);
    const sha256 = got.sha256 || (await sha256Hex(got.bytes));
    const modelKey = key || `sha256:${sha256}`;
    if (!models.has(modelKey)) {
      c.progress(0, 0);
      const session = new w.Session(got.bytes); // blocks while it parses and prepares the weights
      const info = plain(session.info());
      const { gpu, backend } = await pickBackend(w, session, got.bytes, info.vocab_size);
      models.set(modelKey, { session, info, sha256, cached: got.cached, source: a.url || a.name, gpu, backend });
      if (got.save) await got.save(sha256).catch(() => {}); // a full disk must not break the demo
    }
    return describe(modelKey, false);
  },

  /** A new experiment (its own pairs, updates and points) over a loaded model. */
  open(a) {
    const m = models.get(a.model);
    if (!m) throw new Error(`model ${a.model} is not loaded`);
    const id = nextExperiment++;
    const session = m.session.share();
    if (m.gpu) session.use_gpu(m.gpu);
    experiments.set(id, { session, model: a.model });
    return id;
  },
  close(a) {
    const e = experiments.get(a.experiment);
    if (e) e.session.free();
    experiments.delete(a.experiment);
    return null;
  },

  async defaultStrengths() {
    return Array.from((await ensureWasm()).Session.default_strengths());
  },
  async methods() {
    return (await ensureWasm()).Session.methods();
  },
  async engine() {
    const w = await ensureWasm();
    return { threads: threadsActive, isolated: !!self.crossOriginIsolated, shared: flags !== null, kernels: w.kernel_path() };
  },

  setPairs: (a) => plain(experiment(a.experiment).set_pairs(a.train, a.test, a.format || 'chat', a.system ?? undefined)),
  readActivations(a, c) {
    experiment(a.experiment).read_activations(c.progress);
    return null;
  },
  hasActivations: (a) => experiment(a.experiment).has_activations(),
  fit: (a, c) => plain(experiment(a.experiment).fit(a.method, a.layer, a.site || '', a.positions || 'all', a.epochs || 1, c.progress)),
  select: (a) => plain(experiment(a.experiment).select(a.name, a.layer ?? undefined)),
  updates: (a) => experiment(a.experiment).updates().map(plain),
  loadUpdate: (a) => plain(experiment(a.experiment).load_update(new Uint8Array(a.bytes), a.name || 'update')),
  loadControlVector: (a) => plain(experiment(a.experiment).load_control_vector(new Uint8Array(a.bytes), a.name || 'control-vector')),
  async point(a, c) {
    const s = experiment(a.experiment);
    const key = experiments.get(a.experiment)?.model ?? '';
    if (!models.get(key)?.gpu) return plain(s.point(a.strength, !!a.random, c.partial, c.progress));
    const p = plain(await s.point_async(a.strength, !!a.random, c.partial, c.progress));
    // A lost device: the session measured the point on the CPU; every session of the model follows.
    const lost = s.engine_lost();
    if (lost) toCpu(key, `the GPU device was lost (${lost}); the CPU measured this point and measures from here on`);
    return p;
  },
  /** Where an experiment's points are scored, and why (the backend line). */
  backend: (a) => models.get(experiments.get(a.experiment)?.model ?? '')?.backend ?? null,
  /** Destroys the model's GPU device, as a driver reset would (tests of the fallback). */
  loseDevice(a) {
    models.get(experiments.get(a.experiment)?.model ?? '')?.gpu?.destroy();
    return null;
  },
  remember: (a) => experiment(a.experiment).remember(!!a.random, a.points),
  summary: (a) => toPlain(experiment(a.experiment).summary()),
  prompting: (a, c) => toPlain(experiment(a.experiment).score_prompting(a.instruction || '', c.progress)),
  generate: (a, c) => experiment(a.experiment).generate(a.prompt, a.maxTokens, a.strength, c.token),
  controlVector: (a) => experiment(a.experiment).control_vector(a.strength, a.modelSha256 || '', a.pairsSha256 || ''),
  /** Any other method of the wasm Session (for panels that use newer wasm calls): `args` as
   *  given, with the progress callback appended when `progress` is set. */
  invoke(a, c) {
    const s = experiment(a.experiment);
    const name = String(a.method);
    const fn = /** @type {any} */ (s)[name];
    if (typeof fn !== 'function' || name.startsWith('_') || ['free', 'constructor', 'share'].includes(name)) {
      throw new Error(`the wasm Session has no method ${JSON.stringify(name)}`);
    }
    const args = [...(a.args || [])];
    if (a.progress) args.push(c.progress);
    return toPlain(fn.apply(s, args));
  },
  vector(a) {
    const v = experiment(a.experiment).vector();
    return v ? new Float32Array(v) : null;
  },
};

/** Deep conversion of wasm results (serde maps may arrive as JS Maps at any depth). */
/** @param {any} x @returns {any} */
function toPlain(x) {
  if (x instanceof Map) return Object.fromEntries([...x].map(([k, v]) => [k, toPlain(v)]));
  if (Array.isArray(x)) return x.map(toPlain);
  if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toPlain(v)]));
  }
  return x;
}

/** @param {string} key @param {boolean} reused */
function describe(key, reused) {
  const m = /** @type {{session: any, info: any, sha256: string, cached: boolean, backend: Backend}} */ (models.get(key));
  return { model: key, info: m.info, sha256: m.sha256, cached: m.cached, reused, backend: m.backend };
}

/**
 * Where a model's points are scored: the GPU when asked (`gpu`), or with `auto` when a hardware
 * adapter is faster on the probe (both engines timed here, the GPU after an untimed warm-up);
 * else the CPU, with the reason. A software adapter (SwiftShader, lavapipe: a CPU emulating a
 * GPU) is not probed under `auto` — it is never faster than the wasm kernels, and its upload and
 * probe would cost seconds of the CPU's time.
 * @param {any} w the wasm module @param {any} session @param {Uint8Array} bytes @param {number} vocab
 * @returns {Promise<{gpu: any, backend: Backend}>}
 */
async function pickBackend(w, session, bytes, vocab) {
  const cpu = (/** @type {string} */ note, extra = {}) => ({ gpu: null, backend: /** @type {Backend} */ ({ backend: 'cpu', note, ...extra }) });
  if (backendWanted === 'cpu') return cpu('asked for the CPU (?backend=cpu)');
  if (!w.GpuSession) return cpu('this build has no WebGPU engine (the threaded build is CPU-only)');
  const nav = /** @type {any} */ (self.navigator);
  const adapter = nav.gpu ? await nav.gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) return cpu(nav.gpu ? 'WebGPU has no adapter here' : 'this browser has no WebGPU');
  const a = adapter.info || {};
  const software = !!(a.isFallbackAdapter || adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(`${a.vendor} ${a.architecture} ${a.description}`);
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed adapter';
  if (software && backendWanted === 'auto') {
    return cpu(`the WebGPU adapter (${name}) is a software renderer: the CPU kernels are faster (?backend=gpu forces it)`, { adapter: { name, software } });
  }
  /** @type {any} */
  let gpu = null;
  try {
    gpu = await w.GpuSession.create(bytes);
    const ids = Array.from({ length: PROBE_TOKENS }, (_, i) => (i * 7919 + 1) % vocab);
    const time = async (/** @type {() => any} */ f) => { const t = performance.now(); await f(); return performance.now() - t; };
    await gpu.probe(ids, PROBE_LAYERS); // the first call compiles the pipelines
    const probe_ms = { gpu: await time(() => gpu.probe(ids, PROBE_LAYERS)), cpu: await time(() => session.probe(ids, PROBE_LAYERS)), tokens: PROBE_TOKENS, layers: PROBE_LAYERS };
    const extra = { adapter: { name, software }, probe_ms };
    if (backendWanted === 'gpu') return { gpu, backend: { backend: 'gpu', note: 'asked for the GPU (?backend=gpu)', ...extra } };
    if (probe_ms.gpu < probe_ms.cpu) return { gpu, backend: { backend: 'gpu', note: 'faster on the probe', ...extra } };
    gpu.free();
    return cpu('the CPU was faster on the probe', extra);
  } catch (e) {
    gpu?.free();
    return cpu(`the GPU cannot run this model: ${errText(e)}`, { adapter: { name, software } });
  }
}

/** Moves a model's experiments back to the CPU (a lost device), keeping the reason for the
 *  backend line. @param {string} key @param {string} note */
function toCpu(key, note) {
  const m = models.get(key);
  if (!m) return;
  for (const e of experiments.values()) if (e.model === key) e.session.use_cpu();
  m.gpu?.free();
  m.gpu = null;
  m.backend = { ...m.backend, backend: 'cpu', note };
}
