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
import { OUT, STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser } from './page.mjs';

useBrowser();

/** Sets a lab input as a user would (fill + change event). */
async function setInput(page, sel, value) {
  await page.fill(sel, String(value));
  await page.dispatchEvent(sel, 'change');
}

/** Clicks `button` and waits until `out` shows new text; returns it. */
async function runAndRead(page, button, out, what) {
  const before = await page.textContent(out);
  await page.click(button);
  await waitFor(page, what, ([sel, old]) => {
    const t = document.querySelector(sel).textContent;
    return t && t !== old;
  }, [out, before]);
  return page.textContent(out);
}

test('attention lab: construction, training and errors in the page', { timeout: 3 * STEP }, async (t) => {
  const { playwright, reason } = missing('wasm');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, '');

  // The example prompt comes from core's sampler: L = 2 lookup over [8] has n = 2 + 2·8 = 18.
  await waitFor(page, 'the example prompt', () => /n = 18/.test(document.querySelector('#lab-sample').textContent));
  assert.match(await page.textContent('#lab-sample'), /^z2: 0→\d/m);

  // Exact with β = ln n + 2 (default) ...
  await setInput(page, '#lab-instances', 300);
  let out = await runAndRead(page, '#lab-construct', '#lab-construct-out', 'the construction');
  assert.match(out, /300\/300 correct \(100\.0%\)/, out);
  // ... and far from it with β = 0.5 at n = 202 (the docs table shows the same collapse).
  await setInput(page, '#lab-k', 100);
  await setInput(page, '#lab-beta', '0.5');
  out = await runAndRead(page, '#lab-construct', '#lab-construct-out', 'the construction at β = 0.5');
  const acc = Number(out.match(/\(([\d.]+)%\)/)[1]);
  assert.ok(out.includes('n = 202') && acc < 50, out);

  // Training the full-attention arm on L = 2, k = 3 reaches the answer well above chance (33%).
  await setInput(page, '#lab-k', 3);
  await setInput(page, '#lab-beta', '');
  await page.click('#lab [data-arm="full"]');
  assert.equal(await page.inputValue('#lab-spec'), 'F*3');
  await page.click('#lab-train');
  await waitFor(page, 'the training run', () => document.querySelectorAll('#lab-runs tbody tr').length === 1);
  const cells = await page.$$eval('#lab-runs tbody tr td', (tds) => tds.map((td) => td.textContent));
  assert.equal(cells[0], 'F*3');
  assert.ok(Number(cells[6].replace('%', '')) >= 90, `trained accuracy: ${cells.join(' | ')}`);
  assert.equal(cells[7], '33%');
  await page.screenshot({ path: join(OUT, 'lab.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no console errors');

  // A bad layer spec is reported in the error box, naming the bad layer.
  await page.fill('#lab-spec', 'F,X:nope');
  await page.click('#lab-train');
  await page.waitForSelector('#error:not([hidden])', { timeout: STEP });
  const err = await page.textContent('#error');
  assert.match(err, /attention lab \(training\).*X:nope/s, err);

  // A long run can be stopped: the worker is replaced, no run is recorded, and the lab still works.
  await page.click('#error-dismiss');
  await page.fill('#lab-spec', 'F*3');
  await setInput(page, '#lab-k', 16); // n = 34: far from an early stop
  await setInput(page, '#lab-steps', 20000);
  await page.click('#lab-train');
  await waitFor(page, 'training progress', () => /training F\*3 \d+\/20000/.test(document.querySelector('#lab-progress-label').textContent));
  assert.equal(await page.isVisible('#lab-stop'), true);
  await page.click('#lab-stop');
  await waitFor(page, 'the stop', () => document.querySelector('#lab-progress-label').textContent === 'training stopped');
  assert.equal(await page.isVisible('#lab-stop'), false);
  assert.equal(await page.$$eval('#lab-runs tbody tr', (rows) => rows.length), 1, 'a stopped run is not recorded');
  await setInput(page, '#lab-instances', 50);
  out = await runAndRead(page, '#lab-construct', '#lab-construct-out', 'the construction after a stop');
  assert.match(out, /50\/50 correct/, out);
  await page.close();
});
