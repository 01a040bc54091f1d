// Wiring of the standalone views demo (demo.html): asks the worker for numbers, hands them to
// the render modules, turns their events into requests. Nothing here computes science; the
// little state it keeps (layer, strength, method, mask) lives in `state` and the controls.
//
// For tests: `window.demo` exposes `ready` (a promise for the first full paint), `call(method,
// args)` (a Session call through the worker), `state`, `views`, and `busy()` (a promise for the
// work in flight).
import { CombineView } from './combine.js';
import { FrontierView } from './frontier.js';
import { HeatmapView } from './heatmap.js';
import { ManifoldView } from './manifold.js';
import { TokensView } from './tokens.js';
import { WeightView } from './weight.js';

/**
 * What the worker answers, as each view's header describes it.
 * @typedef {import('./combine.js').Update} Update
 * @typedef {import('./combine.js').Cosines} Cosines
 * @typedef {import('./frontier.js').FrontierData & { updates: Update[] }} Frontier
 * @typedef {import('./frontier.js').Point} Point
 * @typedef {import('./frontier.js').Prompting} Prompting
 * A calibration grid; the shipped calibration.json also has the grid's axes and pair counts.
 * @typedef {import('./heatmap.js').Calibration & { layers?: number[], strengths?: number[],
 *   n_train?: number, n_test?: number }} Calibration
 * @typedef {{ layers: number[], strengths: number[] }} Grid
 * An update as fitted, combined or loaded.
 * @typedef {{ method: string, layer: number, [more: string]: unknown }} Made
 * The results of the Session methods used here (by method), and of the other requests.
 * @typedef {{ updates: Update[], frontier: Frontier, measure_frontier: Frontier, calibrate: Calibration,
 *   score_prompting: { instruction: string, point: Point }, weight_change: import('./weight.js').WeightChange,
 *   token_effects: import('./tokens.js').TokenEffects, cosines: Cosines, combine: Made,
 *   load_control_vector: Made, control_vector: Uint8Array<ArrayBuffer> }} Results
 * @typedef {{ init: { cancellable: boolean, methods: string[] }, load: { n_layers: number, [more: string]: unknown } }} OpResults
 * The worker's messages (demo-worker.js): a progress report, a result or an error.
 * @typedef {{ id: number, progress?: [number, number], ok?: boolean, result?: unknown, error?: string }} Reply
 * @typedef {{ resolve: (v: unknown) => void, reject: (e: Error) => void,
 *   onProgress: (done: number, total: number) => void }} Pending
 * The shipped updates' index (data/updates/index.json), the fields used here.
 * @typedef {{ layer: number, files: { concept: string, what: string, file: string, bytes: number }[] }} ShippedIndex
 * The views' events' details.
 * @typedef {import('./frontier.js').ToggleDetail} ToggleDetail
 * @typedef {import('./frontier.js').PointDetail} PointDetail
 * @typedef {import('./heatmap.js').CellDetail} CellDetail
 * @typedef {import('./tokens.js').MaskDetail} MaskDetail
 * @typedef {import('./combine.js').SelectDetail} SelectDetail
 * @typedef {import('./combine.js').CombineDetail} CombineDetail
 * @typedef {import('./combine.js').ControlVectorDetail} ControlVectorDetail
 * @typedef {import('./combine.js').ExportDetail} ExportDetail
 */

/** The page's element `s` (demo.html has every one asked for here). @param {string} s */
const $ = (s) => /** @type {HTMLElement} */ (document.querySelector(s));
const SWEEP = [-10, -5, -2.5, 0, 2.5, 5, 10];
const BROWSER_GRID = { layers: [6, 12, 18, 24], strengths: [0, 2.5, 5, 10] };
const params = new URLSearchParams(location.hash.slice(1));
const state = {
  concept: params.get('concept') || 'sentiment',
  layer: Number(params.get('layer') || 15),
  strength: Number(params.get('strength') || 5),
  method: params.get('method') || 'diffmean',
  mask: params.get('mask') || '',
  shown: /** @type {string[] | null} */ (null),
  prompt: /** @type {HTMLInputElement} */ ($('#prompt')).value,
  completion: /** @type {string | null} */ (null), // the base model's greedy completion, fixed once generated
  n_train: Number(params.get('n_train') || 16),
  n_test: Number(params.get('n_test') || 8),
  shipped: params.get('shipped') !== '0', // load the update files `steerscope ship-updates` made
};
/** @type {Frontier | null} */
let frontier = null; // measured by the first fit; the renders run after it (hence `Frontier` casts there)
/** @type {Prompting | null} */
let prompting = null;
/** @type {Calibration | null} */
let calibration = null;
/** @type {Cosines | null} */
let cosines = null;
/** @type {string[]} */
let trainable = []; // the trained methods the Session can train here (Session.methods())

/** The state a copied link reproduces, written back to the hash whenever the views are redrawn
 * for it (renderControls, strengthChanged, the mask), so the link always matches the numbers shown. */
function writeHash() {
  const h = new URLSearchParams({ concept: state.concept, layer: String(state.layer), strength: String(state.strength), method: state.method });
  if (state.mask) h.set('mask', state.mask);
  if (state.n_train !== 16) h.set('n_train', String(state.n_train));
  if (state.n_test !== 8) h.set('n_test', String(state.n_test));
  if (!state.shipped) h.set('shipped', '0');
  history.replaceState(null, '', `#${h}`);
}

// ---- the worker ---------------------------------------------------------------------------------
const worker = new Worker(new URL('./demo-worker.js', import.meta.url), { type: 'module' });
const stopFlag = self.crossOriginIsolated ? new SharedArrayBuffer(4) : null;
let nextId = 0;
/** @type {Map<number, Pending>} */
const pending = new Map();
/** @type {Promise<unknown>} */
let inFlight = Promise.resolve();
worker.onmessage = (/** @type {MessageEvent<Reply>} */ ev) => {
  const m = ev.data;
  const p = pending.get(m.id);
  if (!p) return;
  if (m.progress) return p.onProgress?.(...m.progress);
  pending.delete(m.id);
  if (m.ok) p.resolve(m.result); else p.reject(new Error(m.error));
};
worker.onerror = (/** @type {ErrorEvent} */ e) => showError(`worker: ${e.message || 'failed to start'}`);

/** @param {object} msg @param {string} label @param {(done: number, total: number) => void} [onProgress] */
function request(msg, label, onProgress) {
  const id = ++nextId;
  status(label);
  const progress = onProgress || ((/** @type {number} */ d, /** @type {number} */ t) => {
    /** @type {HTMLProgressElement} */ ($('#progress')).max = t || 1;
    /** @type {HTMLProgressElement} */ ($('#progress')).value = d;
    status(`${label} (${d}/${t})`);
  });
  const p = new Promise((/** @type {(v: unknown) => void} */ resolve, /** @type {(e: Error) => void} */ reject) => pending.set(id, { resolve, reject, onProgress: progress }));
  worker.postMessage({ id, ...msg });
  inFlight = inFlight.then(() => p.catch(() => {}));
  return p.finally(() => status(''));
}
/**
 * A worker request other than a Session call.
 * @template {string} N @param {N} name @param {object} fields @param {string} [label]
 * @returns {Promise<N extends keyof OpResults ? OpResults[N] : unknown>}
 */
const op = (name, fields, label) => /** @type {Promise<N extends keyof OpResults ? OpResults[N] : unknown>} */ (
  request({ op: name, ...fields }, label || name));
/** The Session methods whose last argument is a progress callback `(done, total) => stop?`. */
const WITH_PROGRESS = new Set(['read_activations', 'fit', 'measure_frontier', 'calibrate', 'score_prompting']);
/**
 * A Session method through the worker (its progress callback added where it takes one).
 * @template {string} M @param {M} method @param {unknown[]} [args] @param {string | null} [label]
 * @returns {Promise<M extends keyof Results ? Results[M] : unknown>}
 */
const call = (method, args = [], label = null) => /** @type {Promise<M extends keyof Results ? Results[M] : unknown>} */ (
  request({ op: 'call', method, args, progress: WITH_PROGRESS.has(method) }, label || method));

// ---- views --------------------------------------------------------------------------------------
const views = {
  frontier: new FrontierView($('#frontier')),
  weights: /** @type {WeightView[]} */ ([]),
  manifold: new ManifoldView($('#manifold')),
  heatmap: new HeatmapView($('#heatmap')),
  tokens: new TokensView($('#tokens')),
  combine: new CombineView($('#combine')),
};

/** @param {string} text */
function status(text) {
  $('#status').textContent = text;
}
/** @param {unknown} text */
function showError(text) {
  const box = $('#error');
  box.hidden = false;
  box.textContent = String(text);
}
window.addEventListener('unhandledrejection', (e) => showError(e.reason?.message || e.reason));

// ---- start-up -------------------------------------------------------------------------------------
async function start() {
  const init = await op('init', { cancel: stopFlag }, 'starting the worker');
  /** @type {HTMLButtonElement} */ ($('#cancel')).disabled = !init.cancellable;
  $('#cancel').title = init.cancellable ? '' : 'stopping a running call needs a cross-origin-isolated page';
  trainable = init.methods.filter((m) => m !== 'diffmean' && m !== 'pca');
  const info = await op('load', { url: new URL('../models/model.gguf', location.href).href }, 'loading the model');
  /** @type {HTMLInputElement} */ ($('#layer')).max = String(info.n_layers - 1);
  setLayer(state.layer);
  setStrength(state.strength);
  await loadConcept();
}

/** Everything that depends on the concept's pairs: activations, fits, baselines, the grid. */
async function loadConcept() {
  document.body.dataset.ready = 'false';
  /** @type {HTMLSelectElement} */ ($('#concept')).value = state.concept;
  await op('pairs', { concept: state.concept, n_train: state.n_train, n_test: state.n_test }, `loading ${state.concept} pairs`);
  await call('read_activations', [], 'reading activations at every layer');
  const wanted = state.method;
  await fitAtLayer();
  prompting = await promptingBaseline();
  calibration = await shippedCalibration();
  await renderAll();
  if (wanted !== state.method) status(`${wanted} is not at layer ${state.layer} here (train it below); showing ${state.method}`);
}

/** DiffMean and PCA fitted here, the shipped trained updates loaded, all swept. */
async function fitAtLayer() {
  for (const m of ['diffmean', 'pca']) await call('fit', [m, state.layer, '', 'all', 1], `fitting ${m} at layer ${state.layer}`);
  const shipped = state.shipped ? await shippedUpdates() : [];
  for (const f of shipped) {
    // A file the index lists may be absent (local-weight files are not committed: they are
    // made by `steerscope ship-updates`); the frontier then goes without it.
    const head = await fetch(f.url, { method: 'HEAD', cache: 'no-cache' }).catch(() => null);
    if (!head?.ok) continue;
    await op('update-file', { url: f.url, name: f.what }, `loading ${f.what} (${(f.bytes / 1e6).toFixed(2)} MB)`);
  }
  const names = (await call('updates')).map((u) => u.method);
  if (!names.includes(state.method)) state.method = 'diffmean';
  await call('select', [state.method]);
  frontier = await call('measure_frontier', [[], SWEEP, true], 'sweeping every method');
}

async function shippedUpdates() {
  const res = await fetch('../data/updates/index.json', { cache: 'no-cache' });
  if (!res.ok) return [];
  /** @type {ShippedIndex} */
  const index = await res.json();
  if (index.layer !== state.layer) return [];
  return index.files.filter((f) => f.concept === state.concept && f.what !== 'calibration')
    .map((f) => ({ ...f, url: new URL(`../data/updates/${f.file}`, location.href).href }));
}

async function shippedCalibration() {
  const res = state.shipped
    ? await fetch(`../data/updates/${encodeURIComponent(state.concept)}/calibration.json`, { cache: 'no-cache' })
    : null;
  const grid = res?.ok ? await res.json() : null;
  // A grid measured on other pair counts would not belong to the controls shown.
  if (grid?.n_train !== state.n_train || grid?.n_test !== state.n_test) {
    $('#calibration-source').textContent = grid
      ? `the precomputed grid is on ${grid.n_train}/${grid.n_test} pairs, not ${state.n_train}/${state.n_test}; computing a small one here…`
      : 'no precomputed grid (run steerscope ship-updates); computing a small one here…';
    return browserCalibration(BROWSER_GRID);
  }
  $('#calibration-source').textContent = 'precomputed by `steerscope ship-updates` on the same pairs (the button recomputes it here)';
  return grid;
}

/** @param {Grid} grid */
async function browserCalibration(grid) {
  const c = await call('calibrate', ['diffmean', grid.layers, grid.strengths, 0.5], 'calibrating layer × strength');
  $('#calibration-source').textContent = 'computed in this browser';
  return c;
}

async function promptingBaseline() {
  const res = await fetch('../data/concepts/index.json', { cache: 'no-cache' });
  const concepts = res.ok ? await res.json() : [];
  const instruction = (Array.isArray(concepts) && concepts.find?.((c) => c.name === state.concept)?.instruction) || '';
  const p = await call('score_prompting', [instruction], 'scoring the prompting baseline');
  return { ...p.point, instruction: p.instruction };
}

// ---- rendering ------------------------------------------------------------------------------------
async function renderAll() {
  renderControls();
  renderFrontier();
  renderManifold();
  await renderWeights();
  renderHeatmap();
  await renderTokens();
  renderCombine();
  document.body.dataset.ready = 'true';
}

/** The method and train lists from the session's updates; the hash from the state. */
function renderControls() {
  const methods = [...new Set(/** @type {Frontier} */ (frontier).updates.map((u) => u.method))];
  $('#method').replaceChildren(...methods.map((m) => new Option(m, m, false, m === state.method)));
  const untrained = trainable.filter((m) => !methods.includes(m));
  $('#train-method').replaceChildren(...untrained.map((m) => new Option(m, m)));
  /** @type {HTMLButtonElement} */ ($('#train')).disabled = untrained.length === 0;
  writeHash();
}

function renderFrontier() {
  views.frontier.update({ .../** @type {Frontier} */ (frontier), prompting }, { strength: state.strength, shown: state.shown });
}

function renderManifold() {
  const curve = /** @type {Frontier} */ (frontier).methods.find((c) => c.name === state.method);
  if (curve) views.manifold.update(curve, { strength: state.strength });
}

/** The current method beside one update of each other form: one kind of object. */
async function renderWeights() {
  const byForm = new Map();
  for (const u of /** @type {Frontier} */ (frontier).updates) if (!byForm.has(u.form)) byForm.set(u.form, u.method);
  const names = [state.method, ...[...byForm.values()].filter((n) => n !== state.method)].slice(0, 3);
  const box = $('#weights');
  box.replaceChildren();
  views.weights = [];
  for (const name of names) {
    const d = await call('weight_change', [name, state.strength, 16, 16, 32]);
    const cell = document.createElement('div');
    box.append(cell);
    const view = new WeightView(cell);
    views.weights.push(view);
    view.update(d);
  }
}

function renderHeatmap() {
  if (calibration) views.heatmap.update(calibration, { layer: state.layer, strength: state.strength });
}

async function renderTokens() {
  const d = await call('token_effects', [state.prompt, state.completion ?? undefined, state.strength, state.mask, 16]);
  if (state.completion == null) state.completion = d.pieces.slice(d.prompt_len).join('');
  views.tokens.update(d);
}

function renderCombine() {
  const f = /** @type {Frontier} */ (frontier);
  views.combine.update({ updates: f.updates, cosines, current: f.current, overlap: 0.5 });
}

// ---- controls and view events ----------------------------------------------------------------
/** @param {number | string} s */
function setStrength(s) {
  state.strength = Number(s);
  /** @type {HTMLInputElement} */ ($('#strength')).value = String(state.strength);
  $('#strength-value').textContent = String(state.strength);
}
/** @param {number | string} l */
function setLayer(l) {
  state.layer = Number(l);
  /** @type {HTMLInputElement} */ ($('#layer')).value = String(state.layer);
  $('#layer-value').textContent = String(state.layer);
}

async function strengthChanged() {
  writeHash();
  renderFrontier();
  renderManifold();
  renderHeatmap();
  await renderWeights();
  await renderTokens();
}

async function layerChanged() {
  document.body.dataset.ready = 'false';
  await fitAtLayer(); // a new layer is a new session: DiffMean and PCA are refitted there
  await renderAll();
}

/** Trains `method` here on the training pairs (progress in the bar) and adds it to the frontier.
 *  @param {string} method */
async function trainHere(method) {
  await call('fit', [method, state.layer, '', 'all', 1], `training ${method} at layer ${state.layer}`);
  state.method = method;
  frontier = await call('measure_frontier', [[method], SWEEP, false], `sweeping ${method}`);
  await renderAll();
}

/**
 * `fn` as a listener whose failure is shown.
 * @template {unknown[]} A @param {(...a: A) => Promise<unknown>} fn @returns {(...a: A) => Promise<unknown>}
 */
const guard = (fn) => (...a) => fn(...a).catch((e) => showError(e.message || e));

$('#concept').addEventListener('change', guard(async (e) => {
  state.concept = /** @type {HTMLSelectElement} */ (e.target).value;
  state.completion = null;
  cosines = null;
  await loadConcept();
}));
$('#train').addEventListener('click', guard(() => trainHere(/** @type {HTMLSelectElement} */ ($('#train-method')).value)));
$('#strength').addEventListener('input', guard(async (e) => { setStrength(/** @type {HTMLInputElement} */ (e.target).value); await strengthChanged(); }));
$('#layer').addEventListener('change', guard(async (e) => { setLayer(/** @type {HTMLInputElement} */ (e.target).value); await layerChanged(); }));
$('#method').addEventListener('change', guard(async (e) => {
  state.method = /** @type {HTMLSelectElement} */ (e.target).value;
  await call('select', [state.method]);
  frontier = await call('frontier', []);
  await renderAll();
}));
$('#prompt').addEventListener('change', guard(async (e) => { state.prompt = /** @type {HTMLInputElement} */ (e.target).value; state.completion = null; await renderTokens(); }));
$('#cancel').addEventListener('click', () => { if (stopFlag) Atomics.store(new Int32Array(stopFlag), 0, 1); });
$('#calibrate').addEventListener('click', guard(async () => {
  // (a shipped grid has both its layers and its strengths; one computed here neither)
  const grid = calibration?.layers
    ? { layers: calibration.layers, strengths: /** @type {number[]} */ (calibration.strengths) } : BROWSER_GRID;
  calibration = await browserCalibration(grid);
  renderHeatmap();
}));

// The views' events are CustomEvents, their details as each view documents them.
$('#frontier').addEventListener('toggle', (/** @type {Event} */ e) => { state.shown = /** @type {CustomEvent<ToggleDetail>} */ (e).detail.shown; });
$('#frontier').addEventListener('point', guard(async (e) => {
  const { detail } = /** @type {CustomEvent<PointDetail>} */ (e);
  setStrength(detail.strength);
  if (!detail.name.startsWith('random@')) state.method = detail.name;
  await call('select', [state.method]);
  frontier = await call('frontier', []);
  await strengthChanged();
}));
// Clicking a calibration cell moves both sliders there.
$('#heatmap').addEventListener('cell', guard(async (e) => {
  const { layer, strength } = /** @type {CustomEvent<CellDetail>} */ (e).detail;
  const moved = layer !== state.layer;
  setLayer(layer);
  setStrength(strength);
  if (moved) await layerChanged(); else await strengthChanged();
}));
$('#tokens').addEventListener('mask', guard(async (e) => { state.mask = /** @type {CustomEvent<MaskDetail>} */ (e).detail.mask; writeHash(); await renderTokens(); }));
$('#combine').addEventListener('select', guard(async (e) => {
  const { names } = /** @type {CustomEvent<SelectDetail>} */ (e).detail;
  cosines = names.length >= 2 ? await call('cosines', [names]) : null;
  renderCombine();
}));
$('#combine').addEventListener('combine', guard(async (e) => {
  const { names, weights } = /** @type {CustomEvent<CombineDetail>} */ (e).detail;
  const made = await call('combine', [names, weights]);
  state.method = made.method;
  frontier = await call('measure_frontier', [[made.method], SWEEP, false], `sweeping ${made.method}`);
  await renderAll();
}));
$('#combine').addEventListener('control-vector', guard(async (e) => {
  const { bytes, name } = /** @type {CustomEvent<ControlVectorDetail>} */ (e).detail;
  const made = await call('load_control_vector', [new Uint8Array(bytes), name]);
  if (made.layer !== state.layer) setLayer(made.layer);
  state.method = made.method;
  frontier = await call('measure_frontier', [[made.method], SWEEP, false], `sweeping ${made.method}`);
  await renderAll();
}));
$('#combine').addEventListener('export', guard(async (e) => {
  const { name } = /** @type {CustomEvent<ExportDetail>} */ (e).detail;
  await call('select', [name]);
  const bytes = await call('control_vector', [state.strength, '', '']);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  a.download = `${name.replace(/[^\w.-]+/g, '_')}-layer${state.layer}-strength${state.strength}.gguf`;
  document.body.append(a);
  a.click();
  a.remove();
}));

/** @type {Window & { demo?: object }} */ (window).demo = {
  ready: start().catch((e) => { showError(e.message || e); throw e; }),
  call,
  state,
  views,
  busy: () => inFlight,
};
