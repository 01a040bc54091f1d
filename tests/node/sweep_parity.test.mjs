// One sweep, natively and in wasm: the CLI (`steerscope sweep --json`, x86 kernels) and the wasm
// Session (web/pkg/, SIMD128 kernels, run here in Node) on the same pairs, layer, method and
// strengths must report the same numbers — the page wraps the very core the CLI wraps.
//
// Tolerance: the Q4_1 kernels are bit-exact to the scalar reference on both targets, but the
// f32 ops around them (exp in softmax and SiLU, the attention matmuls: FMA on x86, none in
// SIMD128) round differently in the last bit, and the next layer quantizes its input to 8 bits
// (Q8_1 blocks): a last-bit difference that crosses a rounding boundary becomes a 1/127-of-the-
// block change, and 30 layers spread it. Measured here: the unsteered point (no steering code at
// all) differs by up to 0.016 nats in a mean per-token loss and 0.6 in a sum over a pair's
// tokens. So every mean per-token statistic (losses, log-odds, their intervals) must agree to
// 0.05 nats, every sum over tokens to 0.05 × the mean tokens per pair, norms to 1e-3 relative,
// counts and ranks exactly. A difference of method (a wrong position, strength unit or pair)
// moves the means by ≥ 0.1 at the strengths used.
//
//   bash web/build.sh && node --test tests/node/
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** Every numeric leaf of two JSON values, compared; keys missing on either side are reported.
 * `tokens` is the mean completion tokens per pair, the scale of a summed statistic. */
function compare(native, wasm, path, diffs, tokens = 1) {
  if (typeof native === 'number' || typeof wasm === 'number') {
    const abs = Math.abs(native - wasm);
    const bound = /norm/.test(path) ? 1e-3 * Math.max(1, Math.abs(native))
      : /summed/.test(path) ? 0.05 * tokens
        : /rank|accuracy|count|undefined/.test(path) ? 0 : 0.05;
    diffs.push({ path, native, wasm, abs, ok: Number.isFinite(abs) ? abs <= bound : native === wasm });
  } else if (native && typeof native === 'object') {
    for (const k of new Set([...Object.keys(native), ...Object.keys(wasm ?? {})])) {
      compare(native[k], wasm?.[k], `${path}.${k}`, diffs, tokens);
    }
  } else {
    diffs.push({ path, native, wasm, ok: native === wasm });
  }
}

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
  const unsteered = run.heldout.points.find((x) => x.strength === 0);
  const tokens = Math.abs(unsteered.util_odds_summed / unsteered.util_odds);

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
    }
    const summary = plain(s.summary());
    compare(run.heldout.manifold_rank, summary.manifold_rank, 'manifold_rank', diffs);
    compare(run.heldout.manifold_vs_utility_drop, summary.manifold_vs_utility_drop, 'manifold_vs_utility_drop', diffs);
    const bad = diffs.filter((d) => !d.ok);
    const worst = diffs.filter((d) => Number.isFinite(d.abs)).reduce((a, d) => Math.max(a, d.abs), 0);
    console.log(`${onePass ? 'one-pass activations' : 'fit at the layer'}: ${diffs.length} numbers, max |Δ| ${worst.toExponential(2)}`);
    assert.equal(bad.length, 0, `differ:\n${bad.map((d) => `${d.path}: native ${d.native} wasm ${d.wasm}`).join('\n')}`);
    assert.ok(diffs.length > 4 * STRENGTHS.length, 'compared too few numbers');
  }
});
