// All compute for the demo runs here: wasm init, model download + cache, fitting, scoring and
// generation. The page only posts what it *wants* and renders what comes back.
//
// Why a "want" object instead of a queue of requests: every wasm call is synchronous and blocks
// this worker, so messages pile up while it runs. Queuing them would replay every slider step.
// Instead each message overwrites `want`, and after every unit of work the loop yields to the
// event loop (so all pending messages land) and then picks the next unit from the *latest* want:
// superseded strengths are never computed.
//
// Messages in:  {type:'load', url} | {type:'load', file: ArrayBuffer, name}
//               {type:'want', want: {concept, method, site, layer, strength, prompt, max_tokens, n_train, n_test, instruction}}
//               {type:'export'}: the fitted vector at the wanted strength as a llama.cpp control vector
// Messages out: progress, loaded, busy, idle, points-reset, fit, point, prompting, gen, token, text,
//               summary {applied, curves, manifold_rank, …}, export {bytes, name}, error.

import { SWEEP } from './state.js'; // the sweep is configuration; state.js has no DOM in it
import { errText, loadWasm, plain } from './wasm.js';

const CACHE_NAME = 'steerscope-models';

let wasm = null; // the wasm-bindgen module, once initialised
let session = null; // wasm Session for the loaded model
let sessionGen = 0; // bumped on every load, so stale async work can tell it lost
let want = {};
let have = { pairs: null, fit: null, base: null }; // keys of what the session holds now
let fitted = null; // what `fit` reported for the update the session holds
let digests = { model: '', pairs: '' }; // sha256 of the model file and the train pairs, for exports
let done = new Set(); // keys of units already run (or failed) for this session
let pumping = false;

const post = (msg) => self.postMessage(msg);

self.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === 'load') load(m);
  else if (m.type === 'export') exportVector();
  else if (m.type === 'want') {
    want = { ...want, ...m.want };
    pump();
  }
};

async function ensureWasm() {
  return (wasm = await loadWasm());
}

// ---------------------------------------------------------------------------------------------
// Loading: download with progress, reuse the Cache API copy, cache only what parsed.

async function load(m) {
  const gen = ++sessionGen;
  if (session) session.free?.();
  session = null;
  have = { pairs: null, fit: null, base: null };
  fitted = null;
  digests = { model: '', pairs: '' };
  done = new Set();
  try {
    // Download and wasm compile overlap; a bad model file is reported before a wasm problem
    // because it is the one the user can fix from the page.
    const [w, g] = await Promise.allSettled([
      ensureWasm(),
      m.file ? { bytes: new Uint8Array(m.file), save: null, cached: false } : fetchModel(m.url, gen),
    ]);
    if (gen !== sessionGen) return;
    if (g.status === 'rejected') throw g.reason;
    const got = g.value;
    checkMagic(got.bytes);
    if (w.status === 'rejected') throw w.reason;
    post({ type: 'progress', phase: 'parse', done: 0, total: 0, label: 'parsing model…' });
    const s = new wasm.Session(got.bytes); // blocks while it parses and prepares the weights
    if (gen !== sessionGen) return s.free?.();
    session = s;
    const info = plain(s.info());
    post({ type: 'loaded', info, methods: wasm.Session.methods(), cached: got.cached, source: m.url || m.name });
    if (got.save) await got.save().catch(() => {}); // a full disk must not break the demo
    const sha = await sha256(got.bytes);
    if (gen === sessionGen) digests.model = sha;
    got.bytes = null;
    pump();
  } catch (e) {
    if (gen === sessionGen) post({ type: 'error', where: 'loading model', message: errText(e) });
  }
}

/** A GGUF file starts with the ASCII magic "GGUF"; check it here so a wrong URL (an HTML page,
 *  a 404 body) gets a plain answer before the wasm parser sees it. */
function checkMagic(bytes) {
  const head = String.fromCharCode(...bytes.subarray(0, 4));
  if (head !== 'GGUF') {
    const shown = JSON.stringify(String.fromCharCode(...bytes.subarray(0, 16)));
    throw new Error(`not a GGUF model file: it starts with ${shown}, a GGUF file starts ` +
      `with "GGUF" (${bytes.length} bytes; is the model URL right?)`);
  }
}

async function openCache() {
  try {
    return self.caches ? await caches.open(CACHE_NAME) : null; // absent on insecure origins
  } catch {
    return null;
  }
}

/** The cached copy is reused if a HEAD request says the file on the server is unchanged (size
 *  and date), or if the server cannot be asked at all (offline). */
async function isFresh(url, cached) {
  try {
    const head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
    if (!head.ok) return true;
    const same = (k, ck) => !head.headers.get(k) || head.headers.get(k) === cached.headers.get(ck);
    return same('Content-Length', 'X-Source-Length') && same('Last-Modified', 'X-Source-Modified');
  } catch {
    return true;
  }
}

async function fetchModel(url, gen) {
  const cache = await openCache();
  let res = cache && (await cache.match(url));
  const cached = !!res && (await isFresh(url, res));
  if (!cached) {
    res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) {
      const body = (await res.text().catch(() => '')).slice(0, 200).trim();
      throw new Error(`could not fetch model from ${url}: HTTP ${res.status}${body ? ` (${body})` : ''}`);
    }
  }
  const total = Number(res.headers.get('Content-Length')) || 0;
  const label = cached ? 'reading cached model' : 'downloading model';
  const reader = res.body.getReader();
  const chunks = [];
  let got = 0;
  let lastPost = 0;
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    if (gen !== sessionGen) {
      reader.cancel();
      throw new Error('superseded by another load');
    }
    chunks.push(value);
    got += value.length;
    if (got - lastPost > 1 << 20) { // about one progress message per MiB
      lastPost = got;
      post({ type: 'progress', phase: 'download', done: got, total, label });
    }
  }
  post({ type: 'progress', phase: 'download', done: got, total: total || got, label });
  const bytes = new Uint8Array(got);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  const save = cached || !cache ? null : () => cache.put(url, new Response(bytes, {
    headers: {
      'Content-Type': 'application/octet-stream',
      'X-Source-Length': res.headers.get('Content-Length') || String(got),
      'X-Source-Modified': res.headers.get('Last-Modified') || '',
    },
  }));
  return { bytes, save, cached };
}

// ---------------------------------------------------------------------------------------------
// The work loop: pick the most useful unit for the latest want, run it, yield, repeat.

async function pump() {
  if (pumping) return;
  pumping = true;
  let ran = false;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 0)); // let queued 'want' messages land first
      const job = session && nextJob();
      if (!job) break;
      done.add(job.key); // a failed unit is not retried until its inputs change
      ran = true;
      const gen = sessionGen;
      post({ type: 'busy', what: job.what });
      try {
        await job.run();
      } catch (e) {
        if (gen === sessionGen) post({ type: 'error', where: job.what, message: errText(e) });
      }
    }
  } finally {
    pumping = false;
    if (ran) post({ type: 'idle' });
  }
}

/** Units in priority order: base text (cheap, shows the model works), data, vector, the
 *  strength the user is looking at (its point, then its text), then the rest of the sweep. */
function nextJob() {
  const w = want;
  if (!w.concept) return null;
  const jobs = [];
  const baseKey = `base|${w.max_tokens}|${w.prompt}`;
  jobs.push({ key: baseKey, what: 'generating base text', run: () => generate('base', 0, baseKey) });
  const pairsKey = `pairs|${w.concept}|${w.n_train}|${w.n_test}`;
  const fitKey = `${pairsKey}|${w.method}|${w.site}|layer ${w.layer}`;
  if (have.pairs !== pairsKey) {
    jobs.push({ key: pairsKey, what: `loading ${w.concept} pairs`, run: () => setPairs(w, pairsKey) });
  } else if (have.fit !== fitKey) {
    jobs.push({ key: 'fit|' + fitKey, what: `${verb(w.method)} ${w.method} at layer ${w.layer}`, run: () => fit(w, fitKey) });
  } else {
    const score = (s) => ({ key: `score|${fitKey}|${s}`, what: `scoring strength ${s}`, run: () => scoreAt(s, fitKey) });
    const steerKey = `steer|${fitKey}|${w.strength}|${baseKey}`;
    jobs.push(score(w.strength));
    jobs.push({ key: steerKey, what: `generating at strength ${w.strength}`, run: () => generate('steered', w.strength, baseKey) });
    for (const s of SWEEP) jobs.push(score(s));
    // Baselines last: the prompting one (no steering, the concept asked for in words) and a
    // random direction of the same size at every sweep strength (the noise floor).
    const promptKey = `prompting|${pairsKey}|${w.instruction}`;
    jobs.push({ key: promptKey, what: 'scoring the prompting baseline', run: () => prompting(w.instruction, promptKey) });
    for (const s of SWEEP) {
      if (s !== 0) jobs.push({ key: `random|${fitKey}|${s}`, what: `scoring a random direction at ${s}`, run: () => scoreAt(s, fitKey, true) });
    }
  }
  return jobs.find((j) => !done.has(j.key)) || null;
}

/** Fetch a concept's JSONL and keep the first n pair lines; blank lines are kept so that a line
 *  number in a parse error still matches the file. */
async function fetchPairs(concept, split, n) {
  const url = new URL(`data/concepts/${encodeURIComponent(concept)}.${split}.jsonl`, self.location.href);
  const res = await fetch(url, { cache: 'no-cache' });
  if (!res.ok) throw new Error(`no ${split} data for concept "${concept}" (${url.pathname}: HTTP ${res.status})`);
  const out = [];
  let kept = 0;
  for (const line of (await res.text()).split('\n')) {
    if (kept >= n) break;
    out.push(line);
    if (line.trim()) kept++;
  }
  return out.join('\n');
}

async function setPairs(w, key) {
  const s = session;
  post({ type: 'points-reset' });
  const [train, test] = await Promise.all([
    fetchPairs(w.concept, 'train', w.n_train),
    fetchPairs(w.concept, 'test', w.n_test),
  ]);
  if (s !== session) return; // a new model arrived while we fetched
  const r = plain(s.set_pairs(train, test, 'chat', undefined));
  digests.pairs = await sha256(new TextEncoder().encode(train));
  have.pairs = key;
  have.fit = null;
  post({ type: 'pairs', concept: w.concept, ...r });
}

/** Trained methods run gradient steps in the page (slow); DiffMean and PCA only average. */
const verb = (method) => (/-(sft|split)$/.test(method) ? 'training' : 'fitting');

function fit(w, key) {
  post({ type: 'points-reset' });
  const label = `${verb(w.method)} ${w.method} at layer ${w.layer}`;
  const onProgress = (d, t) => post({ type: 'progress', phase: 'fit', done: d, total: t, label });
  const r = plain(session.fit(w.method, w.layer, w.site, 'all', 1, onProgress));
  have.fit = key;
  fitted = r;
  post({ type: 'fit', ...r });
}

function scoreAt(strength, fitKey, random = false) {
  const label = random ? `scoring a random direction at ${strength}` : `scoring strength ${strength}`;
  const onProgress = (d, t) => post({ type: 'progress', phase: 'score', done: d, total: t, label });
  const r = plain(session.point(strength, random, () => {}, onProgress));
  post({ type: 'point', fit: fitKey, ...r, strength, random });
  // The core's view of the points so far: applied check, curve fits, manifold correlation.
  post({ type: 'summary', fit: fitKey, ...plain(session.summary()) });
}

function prompting(instruction, key) {
  const onProgress = (d, t) => post({ type: 'progress', phase: 'score', done: d, total: t, label: 'scoring the prompting baseline' });
  const r = plain(session.score_prompting(instruction || '', onProgress));
  post({ type: 'prompting', key, instruction: r.instruction, ...r.point });
}

function generate(which, strength, baseKey) {
  const { prompt, max_tokens } = want;
  post({ type: 'gen', which, strength });
  // Strength 0 is the base model by contract: reuse the base text instead of recomputing it.
  if (which === 'steered' && strength === 0 && have.base && have.base.key === baseKey) {
    post({ type: 'text', which, strength, text: have.base.text });
    return;
  }
  const onToken = (piece) => post({ type: 'token', which, strength, piece });
  const text = session.generate(prompt, max_tokens, strength, onToken);
  if (which === 'base') have.base = { key: baseKey, text };
  post({ type: 'text', which, strength, text });
}

/** Hex sha256, or '' where the page has no WebCrypto (plain http off localhost). */
async function sha256(bytes) {
  if (!self.crypto?.subtle) return '';
  const d = new Uint8Array(await self.crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The update the session holds, at the strength the user is looking at, as a GGUF download. */
function exportVector() {
  try {
    if (!session || !fitted) throw new Error('nothing fitted yet: wait for the vector');
    const strength = want.strength;
    const bytes = session.control_vector(strength, digests.model, digests.pairs);
    const name = `${want.concept}-${fitted.method}-layer${fitted.layer}-strength${strength}.gguf`;
    self.postMessage({ type: 'export', bytes, name }, [bytes.buffer]);
  } catch (e) {
    post({ type: 'error', where: 'exporting a control vector', message: errText(e) });
  }
}
