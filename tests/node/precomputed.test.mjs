// The precomputed files the page shows at first paint (web/precomputed/, written by
// `steerscope precompute`) must equal what the page computes live, so they can never drift from
// the code: each file names this model's sha256 and the pairs the page sends; for sentiment,
// every layer's and site's DiffMean vector, the whole default sweep at the default layer (the
// update, three of the random direction's points and the prompting baseline) and three points at
// another layer are recomputed by the wasm Session (web/pkg/, in Node) and compared; for every
// other concept, the fit and two points at the default layer.
//
// Tolerance: native vs wasm (engine_bounds.mjs explains it), vector entries included.
//
//   bash web/build.sh && node --test tests/node/precomputed.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NORM_BOUND, compare as compareBounded, tokensPerPair } from './engine_bounds.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = join(process.env.STEERSCOPE_HOME || join(homedir(), '.cache', 'steerscope'), 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const PKG = join(REPO, 'web', 'pkg', 'steerscope_wasm.js');
const PRE = join(REPO, 'web', 'precomputed');
const CONCEPTS = join(REPO, 'core', 'data', 'concepts');
const sha = (b) => createHash('sha256').update(b).digest('hex');
/** The page's pair text: the first n non-blank lines, each with its newline (steer-lab.js firstLines). */
const firstLines = (file, n) => readFileSync(join(CONCEPTS, file), 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).map((l) => `${l}\n`).join('');
const plain = (x) => JSON.parse(JSON.stringify(x, (_, v) => (v instanceof Map ? Object.fromEntries(v) : v)));

function report(diffs, what) {
  const bad = diffs.filter((d) => !d.ok);
  const worst = diffs.filter((d) => Number.isFinite(d.abs)).reduce((a, d) => Math.max(a, d.abs), 0);
  console.log(`${what}: ${diffs.length} numbers, max |Δ| ${worst.toExponential(2)}`);
  assert.equal(bad.length, 0, `${what} differ:\n${bad.slice(0, 20).map((d) => `${d.path}: precomputed ${d.native} live ${d.wasm}`).join('\n')}`);
}

test('every precomputed file names this model and the pages\'s pairs', (t) => {
  if (!existsSync(MODEL)) return process.env.STEERSCOPE_REQUIRE_BROWSER === '1' ? assert.fail(`missing ${MODEL}`) : t.skip('no model');
  const index = JSON.parse(readFileSync(join(CONCEPTS, 'index.json'), 'utf8'));
  const modelSha = sha(readFileSync(MODEL));
  // The folder's index lists every concept (the page fetches only the listed ones).
  const listed = JSON.parse(readFileSync(join(PRE, 'index.json'), 'utf8'));
  assert.equal(listed.format_version, 1);
  assert.ok(listed.concepts.includes('sentiment'), 'the default concept is precomputed');
  for (const c of index.filter((x) => listed.concepts.includes(x.name))) {
    const file = join(PRE, `${c.name}.json`);
    assert.ok(existsSync(file), `no precomputed file for ${c.name}: run \`steerscope precompute\``);
    const p = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(p.format_version, 1);
    assert.equal(p.model_sha256, modelSha, `${c.name}: made with another model`);
    assert.equal(p.pairs.train_sha256, sha(firstLines(c.train, p.pairs.n_train)), `${c.name}: training pairs changed since the file was made`);
    assert.equal(p.pairs.test_sha256, sha(firstLines(c.test, p.pairs.n_test)), `${c.name}: held-out pairs changed since the file was made`);
    assert.match(p.command, /^steerscope precompute /);
    const index = JSON.parse(readFileSync(join(PRE, p.vectors), 'utf8'));
    assert.equal(index.model_sha256, modelSha);
    const bin = readFileSync(join(PRE, index.file));
    const last = index.entries.at(-1);
    assert.equal(bin.length, 4 * (last.offset + last.length), `${c.name}: vector file size`);
    const layers = new Set(index.entries.map((e) => e.layer));
    assert.equal(index.entries.length, 4 * layers.size, `${c.name}: every layer's four sites`);
    for (const s of p.sweeps) assert.ok(layers.has(s.layer), `${c.name}: vectors at swept layer ${s.layer}`);
  }
});

/** The wasm Session of the page's package over the model, or why the test cannot run. */
async function session(files) {
  for (const need of [MODEL, PKG, ...files]) {
    if (!existsSync(need)) {
      if (process.env.STEERSCOPE_REQUIRE_BROWSER === '1') assert.fail(`missing ${need}`);
      return { missing: need };
    }
  }
  const wasm = await import(PKG);
  wasm.initSync({ module: readFileSync(PKG.replace('.js', '_bg.wasm')) });
  return { s: new wasm.Session(readFileSync(MODEL)) };
}

test('sentiment\'s precomputed vectors, sweep and baselines equal a live recomputation in wasm', { timeout: 30 * 60_000 }, async (t) => {
  const { s, missing } = await session([join(PRE, 'sentiment.json')]);
  if (missing) return t.skip(`missing ${missing}`);
  const p = JSON.parse(readFileSync(join(PRE, 'sentiment.json'), 'utf8'));
  const unsteered = p.sweeps.find((x) => x.layer === 15)?.summary.points.find((x) => x.strength === 0);
  const tokens = unsteered ? tokensPerPair(unsteered) : 1;
  const compare = (pre, live, path, diffs) => compareBounded(pre, live, path, diffs, tokens);
  const vectors = JSON.parse(readFileSync(join(PRE, p.vectors), 'utf8'));
  const bin = readFileSync(join(PRE, vectors.file));
  const index = JSON.parse(readFileSync(join(CONCEPTS, 'index.json'), 'utf8'));
  const concept = index.find((c) => c.name === 'sentiment');
  s.set_pairs(firstLines(concept.train, p.pairs.n_train), firstLines(concept.test, p.pairs.n_test), 'chat', undefined);
  s.read_activations(() => false);

  // Every layer's and site's vector (from the one activation pass: no forward pass each).
  const diffs = [];
  for (const e of vectors.entries) {
    const fit = plain(s.fit('diffmean', e.layer, e.site, 'all', 1, () => false));
    compare(e.fit, fit, `vector ${e.layer}/${e.site} fit`, diffs);
    const live = s.vector();
    const pre = new Float32Array(bin.buffer, bin.byteOffset + 4 * e.offset, e.length);
    const norm = Math.hypot(...pre);
    const maxDiff = pre.reduce((m, x, i) => Math.max(m, Math.abs(x - live[i])), 0);
    diffs.push({ path: `vector ${e.layer}/${e.site}`, native: norm, wasm: maxDiff, abs: maxDiff, ok: live.length === e.length && maxDiff <= NORM_BOUND * Math.max(norm, 1e-6) });
  }
  report(diffs, 'vectors at every layer and site');

  // The default layer's whole sweep, both baselines included.
  const sweep = p.sweeps.find((x) => x.layer === 15);
  assert.ok(sweep, 'the default layer is precomputed');
  const at15 = [];
  compare(sweep.fit, plain(s.fit('diffmean', 15, '', 'all', 1, () => false)), 'fit@15', at15);
  for (const q of sweep.summary.points) compare(q, plain(s.point(q.strength, false, () => {}, () => false)), `point(${q.strength})`, at15);
  // The random direction is the same code at another vector: three of its points suffice.
  for (const q of sweep.summary.random.filter((x) => [-10, 2, 10].includes(x.strength))) {
    compare(q, plain(s.point(q.strength, true, () => {}, () => false)), `random(${q.strength})`, at15);
  }
  const summary = plain(s.summary());
  compare(sweep.summary.manifold_rank, summary.manifold_rank, 'manifold_rank', at15);
  compare(sweep.summary.applied, summary.applied, 'applied', at15);
  compare(sweep.summary.manifold_vs_utility_drop, summary.manifold_vs_utility_drop, 'manifold_vs_utility_drop', at15);
  const prompting = plain(s.score_prompting(p.prompting.instruction, () => false));
  compare(p.prompting.point, prompting.point, 'prompting', at15);
  report(at15, 'layer 15 sweep and baselines');

  // Three points at another layer.
  const other = p.sweeps.find((x) => x.layer === 6);
  if (other) {
    const at6 = [];
    s.fit('diffmean', 6, '', 'all', 1, () => false);
    for (const q of other.summary.points.filter((x) => [-4, 0, 4].includes(x.strength))) {
      compare(q, plain(s.point(q.strength, false, () => {}, () => false)), `layer 6 point(${q.strength})`, at6);
    }
    report(at6, 'layer 6 points');
  }
});

test('every other concept\'s precomputed fit and points at the default layer equal a live recomputation in wasm', { timeout: 15 * 60_000 }, async (t) => {
  const { s, missing } = await session([join(PRE, 'index.json')]);
  if (missing) return t.skip(`missing ${missing}`);
  const index = JSON.parse(readFileSync(join(CONCEPTS, 'index.json'), 'utf8'));
  const listed = JSON.parse(readFileSync(join(PRE, 'index.json'), 'utf8')).concepts.filter((c) => c !== 'sentiment');
  if (listed.length === 0) return t.skip('only sentiment is precomputed');
  for (const name of listed) {
    const p = JSON.parse(readFileSync(join(PRE, `${name}.json`), 'utf8'));
    const sweep = p.sweeps.find((x) => x.layer === 15);
    assert.ok(sweep, `${name}: the default layer is precomputed`);
    const unsteered = sweep.summary.points.find((x) => x.strength === 0);
    const diffs = [];
    const compare = (pre, live, path) => compareBounded(pre, live, path, diffs, tokensPerPair(unsteered));
    const concept = index.find((c) => c.name === name);
    s.set_pairs(firstLines(concept.train, p.pairs.n_train), firstLines(concept.test, p.pairs.n_test), 'chat', undefined);
    compare(sweep.fit, plain(s.fit('diffmean', 15, '', 'all', 1, () => false)), `${name} fit@15`);
    for (const q of sweep.summary.points.filter((x) => [0, 4].includes(x.strength))) {
      compare(q, plain(s.point(q.strength, false, () => {}, () => false)), `${name} point(${q.strength})`);
    }
    report(diffs, `${name}: layer 15 fit and points`);
  }
});
