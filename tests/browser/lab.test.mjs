// The attention lab panel in headless Chromium, on the real wasm build (no language model
// needed): the hand-set construction is exact with β = ln n + 2 and breaks with a small fixed β,
// a full-attention model trains to the answer in the page, bad input is shown as an error, and a
// long run can be stopped.
// Reference for the numbers: the same core code natively (`steerscope compose construct`,
// `compose train`, and core/tests/attention.rs, which checks the construction against the exact
// solver and training against the plain-stack forward).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OUT, STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser, labText } from './page.mjs';

useBrowser();

const LAB = 'attention-lab';
const q = (name) => `${LAB} [name=${name}]`;

/** Sets a lab input as a user would (fill + change event). */
async function setInput(page, name, value) {
  await page.locator(q(name)).fill(String(value));
  await page.locator(q(name)).dispatchEvent('change');
}

/** Clicks `button` and waits until `out` shows new text; returns it. */
async function runAndRead(page, button, out, what) {
  const before = await labText(page, out, LAB);
  await page.locator(`${LAB} ${button}`).click();
  await waitFor(page, what, ([sel, old], lab) => {
    const t = lab(sel, 'attention-lab').textContent;
    return t && t !== old;
  }, [out, before]);
  return labText(page, out, LAB);
}

test('attention lab: construction, training and errors in the page', { timeout: 3 * STEP }, async (t) => {
  const { playwright, reason } = missing('wasm');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, '');

  // The example prompt comes from core's sampler: L = 2 lookup over [8] has n = 2 + 2·8 = 18.
  await waitFor(page, 'the example prompt', (_, lab) => /n = 18/.test(lab('[data-role=sample]', 'attention-lab').textContent));
  assert.match(await labText(page, '[data-role=sample]', LAB), /^z2: 0→\d/m);

  // Exact with β = ln n + 2 (default) ...
  await setInput(page, 'instances', 300);
  let out = await runAndRead(page, '[data-role=construct]', '[data-role=construct-out]', 'the construction');
  assert.match(out, /300\/300 correct \(100\.0%\)/, out);
  // ... and far from it with β = 0.5 at n = 202 (the docs table shows the same collapse).
  await setInput(page, 'k', 100);
  await setInput(page, 'beta', '0.5');
  out = await runAndRead(page, '[data-role=construct]', '[data-role=construct-out]', 'the construction at β = 0.5');
  const acc = Number(out.match(/\(([\d.]+)%\)/)[1]);
  assert.ok(out.includes('n = 202') && acc < 50, out);

  // Training the full-attention arm on L = 2, k = 3 reaches the answer well above chance (33%).
  await setInput(page, 'k', 3);
  await setInput(page, 'beta', '');
  await page.locator(`${LAB} [data-arm="full"]`).click();
  assert.equal(await page.locator(q('spec')).inputValue(), 'F*3');
  assert.match(page.url(), /lab\.spec=F\*3|lab\.spec=F%2A3/, 'the lab\'s controls round-trip to the hash under lab.');
  await page.locator(`${LAB} [data-role=train]`).click();
  await waitFor(page, 'the training run', (_, lab) => lab('[data-role=runs] tbody', 'attention-lab').children.length === 1);
  const cells = await page.locator(`${LAB} [data-role=runs] tbody tr td`).allTextContents();
  assert.equal(cells[0], 'F*3');
  assert.ok(Number(cells[7].replace('%', '')) >= 90, `trained accuracy: ${cells.join(' | ')}`);
  assert.equal(cells[8], '33%');
  await page.screenshot({ path: join(OUT, 'lab.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no console errors');

  // A bad layer spec is reported in the error box, naming the bad layer.
  await setInput(page, 'spec', 'F,X:nope');
  await page.locator(`${LAB} [data-role=train]`).click();
  await page.locator(`${LAB} .box-error:not([hidden])`).waitFor({ timeout: STEP });
  const err = await labText(page, '.box-error', LAB);
  assert.match(err, /attention lab \(training .*X:nope/s, err);

  // A long run can be stopped: the worker is replaced, no run is recorded, and the lab still works.
  await page.locator(`${LAB} .box-error .dismiss`).click();
  await setInput(page, 'spec', 'F*3');
  await setInput(page, 'k', 16); // n = 34: far from an early stop
  await setInput(page, 'steps', 20000);
  await page.locator(`${LAB} [data-role=train]`).click();
  await waitFor(page, 'training progress', (_, lab) => /training F\*3 \d+\/20000/.test(lab('[data-role=progress-label]', 'attention-lab').textContent));
  assert.equal(await page.locator(q('stop')).isVisible(), true);
  await page.locator(q('stop')).click();
  await waitFor(page, 'the stop', (_, lab) => lab('[data-role=progress-label]', 'attention-lab').textContent === 'training F*3 stopped');
  assert.equal(await page.locator(q('stop')).isVisible(), false);
  assert.equal(await page.locator(`${LAB} [data-role=runs] tbody tr`).count(), 1, 'a stopped run is not recorded');
  await setInput(page, 'instances', 50);
  out = await runAndRead(page, '[data-role=construct]', '[data-role=construct-out]', 'the construction after a stop');
  assert.match(out, /50\/50 correct/, out);
  await page.close();
});
