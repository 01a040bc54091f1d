// The standalone views demo's worker: one wasm Session, driven by requests from demo.js. A thin
// RPC — the page asks for a Session method by name and gets its result — plus the fetches that
// feed it (model, pairs, update files). Calls run one at a time, in order.
//
// In:  {id, op: 'init', cancel?: SharedArrayBuffer}      the stop flag (needs cross-origin isolation)
//      {id, op: 'load', url}                             model bytes → Session; answers info()
//      {id, op: 'pairs', concept, n_train, n_test}       concept JSONL → set_pairs
//      {id, op: 'update-file', url, name}                update file → load_update
//      {id, op: 'call', method, args, progress}          session[method](...args[, onProgress])
// Out: {id, ok: true, result} | {id, ok: false, error} | {id, progress: [done, total]}
//
// Stopping: the page sets the flag; the next progress callback returns true and the core stops
// with "cancelled" (its state stays usable). The flag is cleared when a call starts.
import { errText, loadWasm, plain } from '../wasm.js';
import { checkMagic, fetchModel, sha256Hex } from '../lib/model-file.js';

/**
 * The part of the wasm-bindgen module (web/pkg/steerscope_wasm.d.ts) used here; the Session's
 * other methods are called by name ('call'), and every JsValue result is unknown until `plain`.
 * @typedef {{ free(): void, info(): unknown,
 *   set_pairs(train: string, test: string, format: string, system?: string | null): unknown,
 *   load_update(bytes: Uint8Array, name: string): unknown, [method: string]: unknown }} Session
 * @typedef {{ Session: { new (bytes: Uint8Array): Session, methods(): string[] },
 *   set_stop_check(check: (() => boolean) | undefined): void }} Wasm
 *
 * The requests above.
 * @typedef {{ id: number } & ({ op: 'init', cancel?: SharedArrayBuffer | null }
 *   | { op: 'load', url: string } | { op: 'pairs', concept: string, n_train: number, n_test: number }
 *   | { op: 'update-file', url: string, name: string }
 *   | { op: 'call', method: string, args?: unknown[], progress?: boolean })} Request
 */

/** @type {Wasm | null} */
let wasm = null;
/** @type {Session | null} */
let session = null;
/** @type {Int32Array | null} */
let stop = null; // Int32Array over the page's SharedArrayBuffer, or null
/** @type {Promise<void>} */
let queue = Promise.resolve();

self.onmessage = (ev) => {
  const msg = ev.data;
  queue = queue.then(() => handle(msg));
};

/** @param {Request} msg */
async function handle(msg) {
  try {
    const result = await run(msg);
    const transfer = result instanceof Uint8Array ? [result.buffer] : [];
    self.postMessage({ id: msg.id, ok: true, result }, transfer);
  } catch (e) {
    self.postMessage({ id: msg.id, ok: false, error: errText(e) });
  }
}

/** @param {string} url @param {string} what */
async function fetchBytes(url, what) {
  const res = await fetch(url, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`could not fetch ${what} from ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** @param {string} url @param {number} n */
async function fetchLines(url, n) {
  const res = await fetch(url, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`no pairs at ${url}: HTTP ${res.status}`);
  const lines = (await res.text()).split('\n').filter((l) => l.trim());
  return lines.slice(0, n).join('\n');
}

/** @param {number} id */
function progressFor(id) {
  return (/** @type {number} */ done, /** @type {number} */ total) => {
    self.postMessage({ id, progress: [done, total] });
    if (stop && Atomics.load(stop, 0) === 1) {
      Atomics.store(stop, 0, 0);
      return true;
    }
    return false;
  };
}

/** @param {Request} msg */
async function run(msg) {
  if (stop) Atomics.store(stop, 0, 0);
  switch (msg.op) {
    case 'init':
      stop = msg.cancel ? new Int32Array(msg.cancel) : null;
      wasm = /** @type {Wasm} */ (await loadWasm());
      return { cancellable: !!stop, methods: wasm.Session.methods() };
    case 'load': {
      wasm = wasm || /** @type {Wasm} */ (await loadWasm());
      // Through the page's model cache: the labs' download (or an earlier visit) is read from
      // disk, and this page's download is kept for them.
      const got = await fetchModel(msg.url, { progress: progressFor(msg.id), stopped: () => false });
      checkMagic(got.bytes);
      if (session) session.free();
      session = new wasm.Session(got.bytes);
      if (got.save) await got.save(await sha256Hex(got.bytes)).catch(() => {}); // a full disk must not break the page
      return plain(session.info());
    }
    case 'pairs': {
      const base = new URL(`../data/concepts/${encodeURIComponent(msg.concept)}`, self.location.href).href;
      const [train, test] = await Promise.all([
        fetchLines(`${base}.train.jsonl`, msg.n_train),
        fetchLines(`${base}.test.jsonl`, msg.n_test),
      ]);
      return plain(needSession().set_pairs(train, test, 'chat', undefined));
    }
    case 'update-file':
      return plain(needSession().load_update(await fetchBytes(msg.url, 'an update file'), msg.name));
    case 'call': {
      const s = needSession();
      const { method } = msg; // a constant key, so the check below narrows s[method] to a function
      if (typeof s[method] !== 'function') throw new Error(`the Session has no method ${method}`);
      const args = (msg.args || []).slice();
      if (msg.progress) args.push(progressFor(msg.id));
      // Long calls also read the flag before every layer (the core's interrupt): a stop lands
      // within a layer's time, not a pair's.
      const w = /** @type {Wasm} */ (wasm); // a session exists, so the module does
      if (msg.progress) w.set_stop_check(() => !!stop && Atomics.load(stop, 0) === 1);
      try {
        return plain(s[method](...args));
      } finally {
        w.set_stop_check(undefined);
      }
    }
    default: // no Request has another op (so `msg` is typed never here), but a message may
      throw new Error(`unknown request ${/** @type {{ op: unknown }} */ (msg).op}`);
  }
}

function needSession() {
  if (!session) throw new Error('no model loaded yet');
  return session;
}
