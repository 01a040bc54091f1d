// End-to-end test of the web demo in headless Chromium: the real model, loaded from
// web/serve.mjs, steered with the page's own slider. Harness and skip rules: page.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser } from './page.mjs';

useBrowser();

async function rows(page) {
  return page.$$eval('#points tbody tr', (trs) => trs.map((tr) => ({
    strength: Number(tr.dataset.strength),
    pref: Number(tr.dataset.pref),
    util: tr.dataset.util === '' ? null : Number(tr.dataset.util),
  })));
}

async function steeredAt(page, s) {
  await waitFor(page, `steered text at strength ${s}`, (want) => {
    const el = document.querySelector('#steered');
    return el.dataset.strength === want && el.dataset.done === 'true';
  }, String(s));
  return page.textContent('#steered');
}

/** The one tensor of a control-vector GGUF: its name and values (the data is the file's tail). */
function controlVectorTensor(buf) {
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'GGUF');
  const at = buf.indexOf('direction.');
  const nameLen = Number(buf.readBigUInt64LE(at - 8));
  const name = buf.subarray(at, at + nameLen).toString('utf8');
  assert.equal(buf.readUInt32LE(at + nameLen), 1, 'a 1-D tensor');
  const width = Number(buf.readBigUInt64LE(at + nameLen + 4));
  const tail = buf.subarray(buf.length - 4 * width);
  const values = Array.from({ length: width }, (_, i) => tail.readFloatLE(4 * i));
  return { name, values };
}

/** Downloads the fitted vector as a llama.cpp control vector and checks what the file says:
 *  `direction.<layer>` (the fitted layer), the method, and a norm equal to |strength| × 0.05 ×
 *  the mean residual norm the page shows (the strength unit: 10 = half that norm). */
async function checkExport(page, t, strength) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: STEP }), page.click('#export-cvec')]);
  const file = join(OUT, dl.suggestedFilename());
  await dl.saveAs(file);
  const buf = readFileSync(file);
  const fit = await page.textContent('#fit-info');
  const [, method, layer] = fit.match(/^(\S+) at layer (\d+) \(residual\)/);
  const residual = Number(fit.match(/half the mean residual norm ([\d.]+)/)[1]);
  const { name, values } = controlVectorTensor(buf);
  assert.equal(name, `direction.${layer}`);
  assert.ok(buf.includes('steerscope.strength') && buf.includes(method), 'self-describing metadata');
  const norm = Math.hypot(...values);
  const want = Math.abs(strength) * 0.05 * residual;
  assert.ok(Math.abs(norm - want) <= 0.01 * want, `exported |v| ${norm}, expected ${want} (${fit})`);
  t.diagnostic(`exported ${dl.suggestedFilename()}: ${name}, |v| ${norm.toFixed(3)}`);
}

// ---- tests --------------------------------------------------------------------------------------
test('a model URL that is not GGUF shows a GGUF error in the page', { timeout: 2 * STEP }, async (t) => {
  const { playwright, reason } = missing('page');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  // index.html served as "the model": HTML bytes where a GGUF header should be.
  const { page } = await openPage(ctx, '#model=index.html');
  await page.waitForSelector('#error:not([hidden])', { timeout: STEP });
  const text = await page.textContent('#error');
  assert.match(text, /GGUF/, `error box: ${text}`);
  assert.equal(await page.getAttribute('#steerscope', 'data-model'), 'error');
  await page.screenshot({ path: join(OUT, 'bad-model.png'), fullPage: true });
  await page.close();
});

test('steering changes the plotted log-odds and the generated text', { timeout: 3 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, '#max_tokens=24');

  await waitFor(page, 'the model to load', () => document.querySelector('#steerscope').dataset.model === 'ready');
  const info = await page.textContent('#model-info');
  assert.match(info, /layers/);
  await waitFor(page, 'the base text', () => document.querySelector('#base').dataset.done === 'true');
  const base = await page.textContent('#base');
  assert.ok(base.length > 0, 'base text is empty');

  // Real input/change events on the range input, as a user dragging it would fire.
  const slider = page.locator('#strength');
  await slider.fill('5');
  assert.match(page.url(), /strength=5(&|$)/, 'strength should round-trip to the URL hash');
  const plus = await steeredAt(page, 5);
  await slider.fill('-5');
  const minus = await steeredAt(page, -5);

  await waitFor(page, 'scores at both strengths', () => {
    const have = new Set([...document.querySelectorAll('#points tbody tr')].map((r) => r.dataset.strength));
    return have.has('5') && have.has('-5');
  });
  const pts = await rows(page);
  for (const p of pts) {
    assert.ok(Number.isFinite(p.strength) && Number.isFinite(p.pref), `non-finite point ${JSON.stringify(p)}`);
    assert.ok(p.util === null || Number.isFinite(p.util), `bad utility ${JSON.stringify(p)}`);
  }
  assert.ok(new Set(pts.map((p) => p.strength)).size >= 2, `need two strengths: ${JSON.stringify(pts)}`);
  assert.ok(new Set(pts.map((p) => p.pref)).size >= 2, `preference did not change: ${JSON.stringify(pts)}`);
  const at = (s) => pts.find((p) => p.strength === s).pref;
  assert.notEqual(at(5), at(-5));

  assert.notEqual(plus, minus, 'steered text should differ between strengths +5 and -5');
  assert.notEqual(plus, base, 'steered text at +5 should differ from the base text');

  await page.screenshot({ path: join(OUT, 'steer.png'), fullPage: true });
  assert.deepEqual(errors, [], 'console errors on the page');
  await checkExport(page, t, -5);
  t.diagnostic(`base: ${JSON.stringify(base)}`);
  t.diagnostic(`+5: ${JSON.stringify(plus)}`);
  t.diagnostic(`-5: ${JSON.stringify(minus)}`);
  t.diagnostic(`points: ${JSON.stringify(pts)}`);

  // A burst of slider moves in one task while the worker is busy: only the last strength may
  // be computed (none of the superseded ones appears among the scored points).
  await page.evaluate(() => {
    const el = document.querySelector('#strength');
    for (const v of ['0.75', '1.25', '1.75', '2.5']) {
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }
  });
  await steeredAt(page, 2.5);
  await waitFor(page, 'the score at 2.5', () =>
    [...document.querySelectorAll('#points tbody tr')].some((r) => r.dataset.strength === '2.5'));
  const scored = (await rows(page)).map((p) => p.strength);
  for (const s of [0.75, 1.25, 1.75]) assert.ok(!scored.includes(s), `superseded strength ${s} was computed: ${scored}`);

  // Second visit: the model comes from the Cache API, not the network.
  await page.reload();
  await waitFor(page, 'the cached model', () => document.querySelector('#steerscope').dataset.model === 'ready');
  assert.match(await page.textContent('#model-info'), /from cache/);

  // The local-file path reports a bad file the same way as a bad URL.
  await page.setInputFiles('#model-file', { name: 'notes.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('hello, not a model') });
  await page.waitForSelector('#error:not([hidden])', { timeout: STEP });
  assert.match(await page.textContent('#error'), /GGUF/);
  assert.deepEqual(errors, [], 'console errors on the page');
  await page.close();
});

test('a trained method (LoRA, SPLIT) trains in the page, is scored, and a bad site is reported', { timeout: 3 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  // Few pairs near the top of the stack: one gradient step in wasm, through three layers.
  const { page, errors } = await openPage(ctx, '#method=lora-split&layer=27&n_train=4&n_test=2&max_tokens=4&strength=5');
  await waitFor(page, 'the model to load', () => document.querySelector('#steerscope').dataset.model === 'ready');
  assert.ok((await page.$$eval('#method option', (os) => os.map((o) => o.value))).includes('local-weight-split'),
    'the method list comes from the core');
  await waitFor(page, 'the trained update', () => /lora-split at layer 27 \(mlp_out\)/.test(document.querySelector('#fit-info').textContent));
  await waitFor(page, 'the score at 5', () =>
    [...document.querySelectorAll('#points tbody tr')].some((r) => r.dataset.strength === '5'));
  const p5 = (await rows(page)).find((p) => p.strength === 5);
  assert.ok(Number.isFinite(p5.pref), `bad point ${JSON.stringify(p5)}`);
  // Every sweep shows its baselines: the prompting one and a random direction of the same size.
  await waitFor(page, 'the baselines', () => {
    const b = document.querySelector('#baselines');
    return b.dataset.promptingPref && JSON.parse(b.dataset.random || '[]').length >= 6;
  });
  const baselines = await page.$eval('#baselines', (b) => ({ prompting: Number(b.dataset.promptingPref), random: JSON.parse(b.dataset.random), text: b.textContent }));
  assert.ok(Number.isFinite(baselines.prompting), JSON.stringify(baselines));
  assert.ok(baselines.random.every((p) => Number.isFinite(p.pref)), JSON.stringify(baselines));
  assert.match(baselines.text, /prompting baseline .*system prompt/);
  // A LoRA update is not a vector: exporting it as a control vector says why not.
  await page.click('#export-cvec');
  await page.waitForSelector('#error:not([hidden])', { timeout: STEP });
  assert.match(await page.textContent('#error'), /lora-split at mlp_out \(all positions\) is not one/);
  await page.click('#error-dismiss');
  // LoRA is a weight update: the residual stream has no affine writer to update.
  await page.selectOption('#site', 'residual');
  await page.waitForSelector('#error:not([hidden])', { timeout: STEP });
  assert.match(await page.textContent('#error'), /does not support site `residual`/);
  assert.match(page.url(), /site=residual/);
  assert.deepEqual(errors, [], 'console errors on the page');
  t.diagnostic(`fit: ${await page.textContent('#fit-info')}; point at 5: ${JSON.stringify(p5)}`);
  await page.close();
});
