// End-to-end test of the demo page in headless Chromium: the real model, loaded from
// web/serve.mjs, steered through the <steer-lab> element's own controls. Harness: page.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser, labText, rows, steeredAt, setControl, MODEL } from './page.mjs';

useBrowser();

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
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: STEP }), page.locator('steer-lab button[name=export-cvec]').click()]);
  const file = join(OUT, dl.suggestedFilename());
  await dl.saveAs(file);
  const buf = readFileSync(file);
  const fit = await labText(page, '[data-role=fit-info]');
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

const ready = (page) => waitFor(page, 'the model to load', () => document.querySelector('steer-lab').dataset.model === 'ready');

/** Waits until the table has live points at every one of `strengths`. */
function livePoints(page, strengths) {
  return waitFor(page, `live points at ${strengths}`, (want, lab) => {
    const have = new Set([...lab('[data-role=points] tbody').children].filter((r) => r.dataset.source === 'live').map((r) => Number(r.dataset.strength)));
    return want.every((m) => have.has(m));
  }, strengths);
}

// ---- tests --------------------------------------------------------------------------------------
test('a model URL that is not GGUF shows a GGUF error in the lab', { timeout: 2 * STEP }, async (t) => {
  const { playwright, reason } = missing('wasm');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  // index.html served as "the model": HTML bytes where a GGUF header should be.
  const { page } = await openPage(ctx, '#model=index.html');
  await page.locator('steer-lab .box-error:not([hidden])').waitFor({ timeout: STEP });
  const text = await labText(page, '.box-error');
  assert.match(text, /GGUF/, `error box: ${text}`);
  assert.equal(await page.getAttribute('steer-lab', 'data-model'), 'error');
  await page.screenshot({ path: join(OUT, 'bad-model.png'), fullPage: true });
  await page.close();
});

test('with no model the lab says so; a local GGUF file chosen by the visitor loads and is steered', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, '#model=&strength=2');
  await waitFor(page, 'the no-model state', () => document.querySelector('steer-lab').dataset.model === 'none');
  assert.match(await labText(page, '[data-role=model-info]'), /^no model: give a GGUF URL/);
  await page.locator('steer-lab input[name=model-file]').setInputFiles(MODEL);
  await waitFor(page, 'the local file loaded', () => document.querySelector('steer-lab').dataset.model === 'ready');
  assert.match(await labText(page, '[data-role=model-info]'), /^llama · 30 layers/);
  // The file is the lab's model from now on: the sweep runs on it.
  await waitFor(page, 'a live point at +2', (_, lab) =>
    [...lab('[data-role=points] tbody').children].some((r) => r.dataset.source === 'live' && Number(r.dataset.strength) === 2));
  assert.deepEqual(errors, []);
  await page.close();
});

test('steering moves preference the right way, changes the text, and exports its vector', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, '#max_tokens=24&n_train=6&n_test=3');
  await ready(page);
  assert.match(await labText(page, '[data-role=model-info]'), /layers/);
  await waitFor(page, 'the base text', (_, lab) => lab('[data-role=base]').dataset.done === 'true');
  const base = await labText(page, '[data-role=base]');
  assert.ok(base.length > 0, 'base text is empty');

  // Real input events on the range input, as a user dragging it fires them.
  const slider = page.locator('steer-lab input[name=strength]');
  await slider.fill('5');
  assert.match(page.url(), /strength=5(&|$)/, 'strength should round-trip to the URL hash');
  const plus = await steeredAt(page, 5);
  await slider.fill('-5');
  const minus = await steeredAt(page, -5);
  await livePoints(page, [-5, 0, 5]);
  const pts = await rows(page);
  for (const p of pts) {
    assert.ok(Number.isFinite(p.strength) && Number.isFinite(p.pref), `non-finite point ${JSON.stringify(p)}`);
    assert.ok(p.util === null || Number.isFinite(p.util), `bad utility ${JSON.stringify(p)}`);
  }
  const at = (s) => pts.find((p) => p.strength === s && p.source === 'live').pref;
  // The sign of the change, not only that it changed: a DiffMean vector toward the positive
  // completions raises their preference and the opposite strength lowers it (issue 12.6).
  assert.ok(at(5) > at(0), `preference at +5 (${at(5)}) should exceed the unsteered ${at(0)}`);
  assert.ok(at(-5) < at(0), `preference at -5 (${at(-5)}) should fall below the unsteered ${at(0)}`);
  assert.notEqual(plus, minus, 'steered text should differ between strengths +5 and -5');
  assert.notEqual(plus, base, 'steered text at +5 should differ from the base text');
  // The off-manifold score of the current point is on screen, from the core.
  const off = await page.locator('steer-lab [data-role=summary]').getAttribute('data-off-manifold');
  assert.ok(Number(off) > 0, `off-manifold score shown: ${off}`);

  await page.screenshot({ path: join(OUT, 'steer.png'), fullPage: true });
  assert.deepEqual(errors, [], 'console errors on the page');
  await checkExport(page, t, -5);
  t.diagnostic(`base: ${JSON.stringify(base)}; +5: ${JSON.stringify(plus)}; -5: ${JSON.stringify(minus)}`);
  t.diagnostic(`points: ${JSON.stringify(pts)}`);

  // Second visit: the model comes from the Cache API, not the network.
  await page.reload();
  await ready(page);
  assert.match(await labText(page, '[data-role=model-info]'), /from cache/);

  // The local-file path reports a bad file the same way as a bad URL.
  await page.locator('steer-lab input[name=model-file]').setInputFiles({ name: 'notes.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('hello, not a model') });
  await page.locator('steer-lab .box-error:not([hidden])').waitFor({ timeout: STEP });
  assert.match(await labText(page, '.box-error'), /GGUF/);
  assert.deepEqual(errors, [], 'console errors on the page');
  await page.close();
});

test('a trained method (LoRA, SPLIT) trains in the page, is scored with both baselines, and a bad site is reported', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  // Few pairs near the top of the stack: one gradient step in wasm, through three layers.
  const { page, errors } = await openPage(ctx, '#method=lora-split&layer=27&n_train=4&n_test=2&max_tokens=4&strength=5');
  await ready(page);
  await waitFor(page, 'the method list', (_, lab) => lab('select[name=method]').options.length > 2);
  assert.ok((await page.locator('steer-lab select[name=method] option').evaluateAll((os) => os.map((o) => o.value))).includes('local-weight-split'),
    'the method list comes from the core');
  await waitFor(page, 'the trained update', (_, lab) => /lora-split at layer 27 \(mlp_out\)/.test(lab('[data-role=fit-info]').textContent));
  await livePoints(page, [5]);
  const p5 = (await rows(page)).find((p) => p.strength === 5);
  assert.ok(Number.isFinite(p5.pref), `bad point ${JSON.stringify(p5)}`);
  // Every sweep shows its baselines: the prompting one and a random direction of the same size.
  await waitFor(page, 'the baselines', (_, lab) => {
    const b = lab('[data-role=baselines]');
    return b.dataset.promptingPref && JSON.parse(b.dataset.random || '[]').filter((p) => p.source === 'live').length >= 6;
  });
  const baselines = await page.locator('steer-lab [data-role=baselines]').evaluate((b) => ({ prompting: Number(b.dataset.promptingPref), random: JSON.parse(b.dataset.random), text: b.textContent }));
  assert.ok(Number.isFinite(baselines.prompting), JSON.stringify(baselines));
  assert.ok(baselines.random.every((p) => Number.isFinite(p.pref)), JSON.stringify(baselines));
  assert.match(baselines.text, /prompting baseline .*system prompt/);
  // A LoRA update is not a vector: exporting it as a control vector says why not.
  await page.locator('steer-lab button[name=export-cvec]').click();
  await page.locator('steer-lab .box-error:not([hidden])').waitFor({ timeout: STEP });
  assert.match(await labText(page, '.box-error'), /lora-split at mlp_out, a weight update \(LoRA, local weight\), cannot be exported as one/);
  await page.locator('steer-lab .box-error .dismiss').click();
  // LoRA is a weight update: the residual stream has no affine writer to update.
  await setControl(page, 'select[name=site]', 'residual');
  await page.locator('steer-lab .box-error:not([hidden])').waitFor({ timeout: STEP });
  assert.match(await labText(page, '.box-error'), /does not support site `residual`/);
  assert.match(page.url(), /site=residual/);
  assert.deepEqual(errors, [], 'console errors on the page');
  t.diagnostic(`fit: ${await labText(page, '[data-role=fit-info]')}; point at 5: ${JSON.stringify(p5)}`);
  await page.close();
});
