// Wiring only: controls set one State field each, the state goes to the URL hash and to the
// worker, and worker messages go to the views. Nothing here computes.
import { State } from './state.js';
import { createViews } from './views.js';
import { createLab } from './lab.js';

const root = document.querySelector('steerscope-demo, #steerscope');
const $ = (sel) => root.querySelector(sel);
const views = createViews(root);
let state = State.fromHash(location.hash);
let nLayers = 0; // from the loaded model's info()
let points = new Map(); // strength -> score result, for the current update
let baselines = { random: new Map(), prompting: null }; // the noise floor and the prompting baseline
let concepts = []; // [{name, description, instruction}] from the concept index

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });

// ---- errors: every failure ends up in the visible #error box -----------------------------------
const showError = (msg) => views.error(String(msg));
worker.addEventListener('error', (e) => showError(`worker: ${e.message || 'failed to start (see console)'}`));
worker.addEventListener('messageerror', () => showError('worker: message could not be decoded'));
window.addEventListener('error', (e) => showError(e.message));
window.addEventListener('unhandledrejection', (e) => showError(e.reason?.message || e.reason));
$('#error-dismiss').addEventListener('click', () => views.clearErrors());
createLab(root, showError);

// ---- state <-> URL hash <-> controls --------------------------------------------------------------
const WANT = ['concept', 'method', 'site', 'layer', 'strength', 'prompt', 'max_tokens', 'n_train', 'n_test'];
function sendWant() {
  const instruction = concepts.find((c) => c.name === state.concept)?.instruction || '';
  worker.postMessage({ type: 'want', want: { ...Object.fromEntries(WANT.map((k) => [k, state[k]])), instruction } });
}

function writeHash() {
  // replaceState: a shareable URL without one history entry per slider step.
  history.replaceState(null, '', state.toHash());
}

function syncControls() {
  $('#model-url').value = state.model;
  $('#layer').value = state.layer;
  $('#strength').value = state.strength;
  $('#prompt').value = state.prompt;
  $('#max-tokens').value = state.max_tokens;
  $('#n-train').value = state.n_train;
  $('#n-test').value = state.n_test;
  if ([...$('#concept').options].some((o) => o.value === state.concept)) $('#concept').value = state.concept;
  views.methods(state.method);
  $('#site').value = state.site;
  views.conceptInfo();
  views.layer(state.layer, nLayers);
  views.strength(state.strength);
}

/** Set one field from a control; returns whether anything changed. */
function set(name, value) {
  const changed = state.set(name, value);
  if (changed) writeHash();
  syncControls(); // show the coerced value (clamped, rounded)
  return changed;
}

// Someone edited the URL by hand or pasted a link: adopt it wholesale.
window.addEventListener('hashchange', () => {
  const old = state;
  state = State.fromHash(location.hash);
  clampLayer();
  writeHash(); // show the values actually used (clamped, defaults filled in)
  syncControls();
  if (state.model !== old.model) loadUrl();
  sendWant();
});

// ---- controls ----------------------------------------------------------------------------------
$('#load').addEventListener('click', () => {
  set('model', $('#model-url').value.trim());
  loadUrl();
});
$('#model-url').addEventListener('keydown', (e) => { if (e.key === 'Enter') $('#load').click(); });
$('#model-url').addEventListener('change', () => set('model', $('#model-url').value.trim()));
$('#model-file').addEventListener('change', async () => {
  const file = $('#model-file').files[0];
  if (!file) return;
  startLoad(`reading ${file.name}`);
  const buf = await file.arrayBuffer();
  worker.postMessage({ type: 'load', file: buf, name: file.name }, [buf]);
});

for (const name of ['concept', 'method', 'site']) {
  $(`#${name}`).addEventListener('change', () => { if (set(name, $(`#${name}`).value)) sendWant(); });
}
// The layer slider refits the vector (slow), so it commits on release, not on every step.
$('#layer').addEventListener('input', () => views.layer(Number($('#layer').value), nLayers));
$('#layer').addEventListener('change', () => { if (set('layer', $('#layer').value)) sendWant(); });

// Strength: the label and plot marker follow every step; the worker hears about it once the
// slider rests for a moment (or is released), and it skips anything superseded meanwhile.
let strengthTimer = 0;
const commitStrength = () => { clearTimeout(strengthTimer); sendWant(); };
$('#strength').addEventListener('input', () => {
  if (!set('strength', $('#strength').value)) return;
  clearTimeout(strengthTimer);
  strengthTimer = setTimeout(commitStrength, 300);
});
$('#strength').addEventListener('change', () => { set('strength', $('#strength').value); commitStrength(); });

$('#export-cvec').addEventListener('click', () => worker.postMessage({ type: 'export' }));

$('#prompt').addEventListener('change', () => { if (set('prompt', $('#prompt').value)) sendWant(); });
$('#prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('#prompt').dispatchEvent(new Event('change'));
});
for (const [id, name] of [['#max-tokens', 'max_tokens'], ['#n-train', 'n_train'], ['#n-test', 'n_test']]) {
  $(id).addEventListener('change', () => { if (set(name, $(id).value)) sendWant(); });
}

// ---- loading -----------------------------------------------------------------------------------
function startLoad(label) {
  views.clearErrors(); // errors from an earlier attempt no longer describe what is on screen
  root.dataset.model = 'loading';
  points = new Map();
  baselines = { random: new Map(), prompting: null };
  views.points([], baselines);
  views.summary(null);
  views.progress(label, 0, 0);
}

function loadUrl() {
  if (!state.model) return;
  startLoad('downloading model');
  // Resolve against the page (not the worker) so a relative URL means what the user sees.
  worker.postMessage({ type: 'load', url: new URL(state.model, document.baseURI).href });
}

function clampLayer() {
  if (nLayers && state.layer > nLayers - 1) state.set('layer', nLayers - 1);
}

// ---- worker messages -> views ------------------------------------------------------------------
worker.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'progress':
      views.progress(m.label, m.done, m.total);
      break;
    case 'loaded':
      nLayers = Number.isInteger(m.info.n_layers) ? m.info.n_layers : 0;
      views.methods(state.method, m.methods);
      if (nLayers) $('#layer').max = String(nLayers - 1);
      clampLayer();
      writeHash();
      syncControls();
      views.modelInfo(m.info, m.cached);
      views.progressDone();
      root.dataset.model = 'ready';
      sendWant();
      break;
    case 'busy':
      views.status(`${m.what}…`);
      break;
    case 'idle':
      views.status('');
      views.progressDone();
      break;
    case 'points-reset':
      points = new Map();
      baselines = { random: new Map(), prompting: null };
      views.points([], baselines);
      views.summary(null);
      break;
    case 'fit':
      views.fitInfo(m);
      views.progressDone();
      break;
    case 'point':
      (m.random ? baselines.random : points).set(m.strength, m);
      views.points(points.values(), baselines);
      views.progressDone();
      break;
    case 'summary':
      views.summary(m);
      if (m.applied === false) showError('scoring: steering was not applied — no nonzero strength changed any score');
      break;
    case 'prompting':
      baselines.prompting = m;
      views.points(points.values(), baselines);
      views.progressDone();
      break;
    case 'gen':
      views.textStart(m.which, m.strength);
      break;
    case 'token':
      views.textAppend(m.which, m.piece);
      break;
    case 'text':
      views.textDone(m.which, m.text, m.strength);
      break;
    case 'export':
      download(new Blob([m.bytes], { type: 'application/octet-stream' }), m.name);
      break;
    case 'error':
      if (m.where === 'loading model') {
        root.dataset.model = 'error';
        views.progressDone();
      }
      showError(`${m.where}: ${m.message}`);
      break;
  }
};

function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// ---- start -------------------------------------------------------------------------------------
/** The concept list comes from core/data/concepts/index.json (serve.mjs lists the data files
 *  when there is none): names, or objects with a `name` and a `description`. */
async function loadConcepts() {
  let list = [];
  try {
    const res = await fetch(new URL('data/concepts/index.json', import.meta.url));
    if (res.ok) {
      const j = await res.json();
      list = (Array.isArray(j) ? j : j.concepts || [])
        .map((c) => (typeof c === 'string' ? { name: c } : c))
        .filter((c) => c && c.name);
    }
  } catch { /* no index: fall back below */ }
  if (!list.length) list = [{ name: 'sentiment' }];
  // A concept named in a shared link stays selectable even if the index does not list it.
  if (!list.some((c) => c.name === state.concept)) list.push({ name: state.concept });
  concepts = list;
  views.concepts(list, state.concept);
  sendWant(); // the prompting baseline needs the concept's instruction
}

writeHash();
syncControls();
sendWant();
loadConcepts().then(syncControls);
loadUrl(); // a demo should just start; the Cache API makes the second visit cheap
