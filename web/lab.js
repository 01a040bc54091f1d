// The attention lab panel: task controls, one seeded example prompt, the hand-set (L+1)-layer
// construction, and training small full / hybrid / linear models side by side. Wiring and
// rendering only; compute runs in web/lab-worker.js (core code via wasm).

/** Layer specs of the three arms of the hierarchy for L steps (as in `compose experiment`). */
export function armSpec(arm, L) {
  if (arm === 'full') return `F*${L + 1}`;
  if (arm === 'hybrid') return L >= 2 ? `${'F,'.repeat(L - 1)}L:gdn` : 'L:gdn';
  return `L:gdn*${L + 1}`;
}

/** One-line rendering of a prompt: tables, z₀, query, and the chain the models must follow. */
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

export function createLab(root, showError) {
  const $ = (sel) => root.querySelector(sel);
  // A wasm call cannot be interrupted from outside, so "stop" ends the worker and starts a fresh
  // one; the lab keeps no state in its worker, so nothing else is lost.
  const pending = new Map(); // id -> {onProgress, ok, fail}
  let nextId = 0;
  let worker;
  const startWorker = () => {
    worker = new Worker(new URL('./lab-worker.js', import.meta.url), { type: 'module' });
    worker.addEventListener('error', (e) => showError(`lab worker: ${e.message || 'failed to start'}`));
    worker.onmessage = ({ data: m }) => {
      const p = pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') return p.onProgress?.(m);
      pending.delete(m.id);
      m.type === 'result' ? p.ok(m.result) : p.fail(new Error(m.message));
    };
  };
  startWorker();
  const call = (op, args, onProgress) => new Promise((ok, fail) => {
    const id = nextId++;
    pending.set(id, { onProgress, ok, fail });
    worker.postMessage({ id, op, args });
  });
  const STOPPED = 'stopped';
  $('#lab-stop').addEventListener('click', () => {
    worker.terminate();
    for (const p of pending.values()) p.fail(new Error(STOPPED));
    pending.clear();
    startWorker();
  });

  const task = () => ({
    lookup: $('#lab-task').value === 'lookup',
    L: Number($('#lab-L').value),
    k: Number($('#lab-k').value),
  });
  const progress = (label) => (m) => {
    $('#lab-progress').hidden = false;
    $('#lab-stop').hidden = false;
    $('#lab-progress').max = m.total;
    $('#lab-progress').value = m.done;
    $('#lab-progress-label').textContent = `${label} ${m.done}/${m.total}` +
      (m.loss !== undefined ? `, loss ${m.loss.toFixed(3)}` : '');
  };
  const done = () => {
    $('#lab-progress').hidden = true;
    $('#lab-stop').hidden = true;
    $('#lab-progress-label').textContent = '';
  };
  // Every lab error goes to the page's one error box, prefixed with what was being done; a stop
  // the user asked for is reported beside the bar instead.
  const guard = (what, fn) => async () => {
    try {
      await fn();
      done();
    } catch (e) {
      done();
      if (e.message === STOPPED) $('#lab-progress-label').textContent = `${what} stopped`;
      else showError(`attention lab (${what}): ${e.message || e}`);
    }
  };

  const refreshSample = guard('example', async () => {
    const s = await call('sample', { ...task(), seed: 1 });
    $('#lab-sample').textContent = describe(s);
  });

  $('#lab-construct').addEventListener('click', guard('construction', async () => {
    const raw = $('#lab-beta').value.trim();
    const beta = raw === '' ? null : Number(raw);
    if (beta !== null && !(Number.isFinite(beta) && beta > 0)) throw new Error(`β must be a positive number, got "${raw}"`);
    const r = await call('construct', { ...task(), beta, instances: Number($('#lab-instances').value) },
      progress('evaluating'));
    $('#lab-construct-out').textContent = `n = ${r.n}, ${r.layers} layers, d = ${r.d_model}, β = ${r.beta.toFixed(2)}: ` +
      `${r.correct}/${r.instances} correct (${(100 * r.accuracy).toFixed(1)}%)` +
      (r.warnings.length ? ` — ${r.warnings.join('; ')}` : '');
  }));

  for (const b of root.querySelectorAll('#lab [data-arm]')) {
    b.addEventListener('click', () => { $('#lab-spec').value = armSpec(b.dataset.arm, task().L); });
  }

  $('#lab-train').addEventListener('click', guard('training', async () => {
    const spec = $('#lab-spec').value.trim();
    const args = { ...task(), spec, d: Number($('#lab-d').value), steps: Number($('#lab-steps').value), seed: 17 };
    const { run: r, chance } = await call('train', args, progress(`training ${spec}`));
    const row = document.createElement('tr');
    for (const cell of [spec, `L=${args.L}, k=${args.k}`, r.n, args.d, r.params, r.steps_run,
      `${(100 * r.accuracy).toFixed(1)}%`, `${(100 * chance).toFixed(0)}%`]) {
      const td = document.createElement('td');
      td.textContent = cell;
      row.appendChild(td);
    }
    $('#lab-runs tbody').appendChild(row);
  }));

  for (const id of ['#lab-task', '#lab-L', '#lab-k']) $(id).addEventListener('change', refreshSample);
  refreshSample();
}
