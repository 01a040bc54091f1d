// One sweep, natively and in wasm: the CLI (`steerscope sweep --json`, x86 kernels) and the wasm
// Session (web/pkg/, SIMD128 kernels, run here in Node) on the same pairs, layer, method and
// strengths must report the same numbers — the page wraps the very core the CLI wraps: the
// update's points and the random direction's, the strength unit, the off-manifold statistics.
// The curves: the page fits them on the held-out points it has, so they are compared with the
// CLI's `heldout_curves` (the same fit), by what the page shows of them — held-out R² and
// whether the fit is degenerate; a degenerate fit's parameters are not pinned by the points, so
// two engines may land on different ones with the same R². (At these 4 strengths both fits
// are degenerate — n ≤ p, R² = 1 — and both engines must say so; a fit with free degrees of
// freedom needs ≥ 10 strengths, doubling this test's time.)
//
// Tolerance: engine_bounds.mjs (why native and wasm differ at all, and by how much).
//
//   bash web/build.sh && node --test tests/node/
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, tokensPerPair } from './engine_bounds.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(process.env.STEERSCOPE_HOME || join(homedir(), '.cache', 'steerscope'),
  'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const TARGET = process.env.CARGO_TARGET_DIR || join(homedir(), '.cache', 'steerscope', 'target');
const CLI = join(TARGET, 'release', 'steerscope');
const PKG = join(REPO, 'web', 'pkg', 'steerscope_wasm.js');
const N = 4;
const LAYER = 15;
const STRENGTHS = [-6, 0, 3, 8];

const firstLines = (file, n) => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).join('\n');

test('the wasm session reports the native sweep number for number', { timeout: 30 * 60_000 }, async (t) => {
  for (const need of [MODEL, CLI, PKG]) {
    if (!existsSync(need)) {
      if (process.env.STEERSCOPE_REQUIRE_BROWSER === '1') assert.fail(`missing ${need}`);
      return t.skip(`missing ${need}`);
    }
  }
  const dir = join(REPO, 'core', 'data', 'concepts');
  const out = mkdtempSync(join(tmpdir(), 'steerscope-parity-'));
  const native = JSON.parse(execFileSync(CLI, ['--json', 'sweep', '--train', join(dir, 'sentiment.train.jsonl'),
    '--test', join(dir, 'sentiment.test.jsonl'), '--layer', String(LAYER), '--method', 'diffmean',
    `--strengths=${STRENGTHS.join(',')}`, '--max-pairs', String(N), '--out', out],
  { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString());
  const run = native.results.find((r) => r.method === 'diffmean');
  // The random direction of the same size (the baseline every point is read against).
  const random = native.results.find((r) => r.method === 'random');
  assert.ok(random, `the native sweep measured the random direction: ${native.results.map((r) => r.method)}`);
  const unsteered = run.heldout.points.find((x) => x.strength === 0);
  const tokens = tokensPerPair(unsteered);

  const wasm = await import(PKG);
  wasm.initSync({ module: readFileSync(PKG.replace('.js', '_bg.wasm')) });
  const s = new wasm.Session(readFileSync(MODEL));
  s.set_pairs(firstLines(join(dir, 'sentiment.train.jsonl'), N), firstLines(join(dir, 'sentiment.test.jsonl'), N), 'chat', undefined);
  const none = () => false;
  const plain = (x) => JSON.parse(JSON.stringify(x, (_, v) => (v instanceof Map ? Object.fromEntries(v) : v)));
  // Both page paths: fitting at the layer (as the CLI does), and from the one-pass activations.
  for (const onePass of [false, true]) {
    if (onePass) s.read_activations(none);
    const fit = plain(s.fit('diffmean', LAYER, '', 'all', 1, none));
    const diffs = [];
    compare(run.scale.effect_norm, fit.effect_norm, 'effect_norm', diffs);
    compare(run.scale.residual_norm, fit.mean_hidden_norm, 'residual_norm', diffs);
    for (const m of STRENGTHS) {
      const p = plain(s.point(m, false, () => {}, none));
      const q = run.heldout.points.find((x) => x.strength === m);
      compare(q, p, `point(${m})`, diffs, tokens);
      const r = plain(s.point(m, true, () => {}, none));
      compare(random.heldout.points.find((x) => x.strength === m), r, `random point(${m})`, diffs, tokens);
    }
    const summary = plain(s.summary());
    compare(run.heldout.manifold_rank, summary.manifold_rank, 'manifold_rank', diffs);
    compare(run.heldout.manifold_vs_utility_drop, summary.manifold_vs_utility_drop, 'manifold_vs_utility_drop', diffs);
    // The native sweep exists, so steering was applied there (Sweep::new refuses otherwise).
    assert.equal(summary.applied, true, 'the page says steering was not applied');
    for (const kind of ['preference', 'utility']) {
      const [n, w] = [run.heldout_curves, summary.curves];
      compare(n[`${kind}_r2`][1], w[`${kind}_r2`][1], `curves.${kind}_r2 (held-out)`, diffs);
      const degenerate = (c) => (c.Ok ? Boolean(c.Ok.degenerate) : `no fit: ${c.Err}`);
      diffs.push({ path: `curves.${kind} degenerate`, native: degenerate(n[kind]), wasm: degenerate(w[kind]),
        ok: degenerate(n[kind]) === degenerate(w[kind]) });
    }
    const bad = diffs.filter((d) => !d.ok);
    const worst = diffs.filter((d) => Number.isFinite(d.abs)).reduce((a, d) => Math.max(a, d.abs), 0);
    console.log(`${onePass ? 'one-pass activations' : 'fit at the layer'}: ${diffs.length} numbers, max |Δ| ${worst.toExponential(2)}`);
    assert.equal(bad.length, 0, `differ:\n${bad.map((d) => `${d.path}: native ${d.native} wasm ${d.wasm}`).join('\n')}`);
    assert.ok(diffs.length > 4 * STRENGTHS.length, 'compared too few numbers');
  }
});
