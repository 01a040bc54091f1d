// The two wasm builds in Chromium: relaxed SIMD (web/pkg/relaxed/) against SIMD128 (web/pkg/).
// Both run the same exact kernels — relaxed SIMD's dot product is exact on 4-bit weights — so
// the real model's logits must be the same bits, prefill and decode alike; and the page's
// feature detection must pick the relaxed build in a browser that validates relaxed SIMD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browser, missing, openPage, skipOrFail, useBrowser } from './page.mjs';

useBrowser();

test('relaxed-SIMD build gives the SIMD128 build\'s logits bit for bit, and is the one picked', async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, 'bench/?engine=none');
  const r = await page.evaluate(async () => {
    const { BUILDS, pickBuild, hasRelaxedSimd } = await import(`${location.origin}/wasm.js`);
    const bytes = new Uint8Array(await (await fetch('/models/model.gguf')).arrayBuffer());
    const prompt = '<|im_start|>user\nWrite one sentence about the sea.<|im_end|>\n<|im_start|>assistant\n';
    const out = {};
    for (const build of ['simd128', 'relaxed']) {
      const mod = await import(new URL(BUILDS[build], `${location.origin}/`).href);
      await mod.default();
      const s = new mod.Session(bytes);
      const ids = s.tokenize(prompt);
      out[build] = { path: mod.kernel_path(), logits: s.trace_logits(ids, 6), ids: ids.length };
      s.free();
    }
    const [a, b] = [new Uint32Array(out.simd128.logits.buffer), new Uint32Array(out.relaxed.logits.buffer)];
    let differ = 0, first = -1;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { differ++; if (first < 0) first = i; }
    const finite = out.simd128.logits.every(Number.isFinite);
    return { paths: [out.simd128.path, out.relaxed.path], n: a.length, differ, first, finite,
      picked: pickBuild(), relaxed: hasRelaxedSimd(), prompt: out.simd128.ids };
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(r.paths, ['simd128', 'relaxed-simd'], 'each package runs its own kernel path');
  assert.equal(r.n, 7 * 49152, 'prefill + 6 decode steps of logits');
  assert.ok(r.finite, 'logits are finite');
  assert.equal(r.differ, 0, `logits differ at ${r.differ} of ${r.n} places (first at ${r.first})`);
  assert.equal(r.relaxed, true, 'this Chromium validates relaxed SIMD');
  assert.equal(r.picked, 'relaxed', 'feature detection picks the relaxed build where it validates');
});
