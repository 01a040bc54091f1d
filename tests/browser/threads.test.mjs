// The threaded wasm build (web/pkg/threads/: rayon's pool as Web Workers sharing the wasm
// memory) in Chromium, through the page's client as an embedder uses it. The kernels split
// their rows over threads without changing any row's order of additions, and the SIMD128 and
// relaxed builds are the same bits (kernels.test.mjs), so two threads must reproduce one
// thread's greedy text and sweep point exactly — the reference is the one-thread page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browser, missing, openPage, skipOrFail, useBrowser } from './page.mjs';

useBrowser();

/** In a page opened with `?threads=N`: the engine, a greedy generation and a DiffMean point. */
async function measure(ctx, threads) {
  const { page, errors } = await openPage(ctx, `?threads=${threads}#model=`);
  const r = await page.evaluate(async () => {
    const { SteerScope } = await import(`${location.origin}/steerscope.js`);
    const lines = async (f, n) => (await (await fetch(`/data/concepts/${f}`)).text()).split('\n').slice(0, n).join('\n');
    const s = await SteerScope.load('models/model.gguf');
    const engine = await SteerScope.engine();
    const text = await s.generate('Write one sentence about the sea.', { maxTokens: 24 });
    await s.setPairs({ train: await lines('sentiment.train.jsonl', 4), test: await lines('sentiment.test.jsonl', 2) });
    await s.fit({ method: 'diffmean', layer: 15 });
    const p = await s.point(4);
    return { engine, text, point: [p.pref_odds, p.util_odds, p.off_manifold] };
  });
  await page.close();
  return { ...r, errors };
}

test('two threads (the threaded build) give one thread\'s text and point exactly', async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const two = await measure(ctx, 2);
  const one = await measure(ctx, 1);
  assert.deepEqual([two.errors, one.errors], [[], []]);
  assert.equal(two.engine.isolated, true, 'the test page is cross-origin isolated');
  assert.equal(two.engine.threads, 2, `the threaded build runs two threads: ${JSON.stringify(two.engine)}`);
  assert.equal(two.engine.kernels, 'simd128', 'the threaded build is the SIMD128 one');
  assert.equal(one.engine.threads, 1);
  assert.ok(two.text.length > 20, `a generation: ${JSON.stringify(two.text)}`);
  assert.equal(two.text, one.text, 'greedy text');
  assert.ok(one.point.every(Number.isFinite), `finite point: ${one.point}`);
  assert.deepEqual(two.point, one.point, 'preference, utility and off-manifold score at strength 4');
});
