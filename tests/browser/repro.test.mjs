// The bugs issue 13 found by driving the page, each as a test: every number on screen belongs to
// the controls beside it, going back to an earlier setting shows that setting's numbers (from
// the results store, keyed by everything that produced them) and the page stays responsive, a
// revisited strength shows its own text, a link taken after going back reproduces the screen,
// and changing the held-out pairs never refits. Small pair sets keep the browser quick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser, labText, rows, steeredAt, setControl, base } from './page.mjs';

useBrowser();

const SMALL = 'n_train=4&n_test=2&max_tokens=8';
const ready = (page) => waitFor(page, 'the model to load', () => document.querySelector('steer-lab').dataset.model === 'ready');

/** Live points at `strengths` and the prompting baseline, then what the screen shows. */
async function settle(page, strengths) {
  await waitFor(page, `live points at ${strengths} and the prompting baseline`, (want, lab) => {
    const have = new Set([...lab('[data-role=points] tbody').children].filter((r) => r.dataset.source === 'live').map((r) => Number(r.dataset.strength)));
    return want.every((m) => have.has(m)) && lab('[data-role=baselines]').dataset.promptingPref !== '';
  }, strengths);
  return screen(page);
}

/** The numbers and labels on screen. */
async function screen(page) {
  return {
    points: (await rows(page)).filter((r) => r.source === 'live'),
    baselines: await labText(page, '[data-role=baselines]'),
    fit: await labText(page, '[data-role=fit-info]'),
  };
}

/** Records every progress phase the lab shows from now on. */
function watchPhases(page) {
  return page.evaluate(() => {
    const lab = document.querySelector('steer-lab');
    const box = lab.shadowRoot.querySelector('[data-role=progress]');
    window.__phases = [];
    new MutationObserver(() => { if (!box.hidden && box.dataset.phase) window.__phases.push(box.dataset.phase); })
      .observe(box, { attributes: true });
  });
}

test('concept A → B → A shows A\'s numbers again, and the page stays responsive', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, `#concept=sentiment&strength=4&${SMALL}`);
  await ready(page);
  const a = await settle(page, [0, 4]);
  assert.match(a.baselines, /upbeat/, 'sentiment\'s prompting instruction');
  await setControl(page, 'select[name=concept]', 'formality');
  const b = await settle(page, [0, 4]);
  assert.match(b.baselines, /formal/, 'formality\'s prompting instruction');
  assert.notDeepEqual(b.points, a.points);
  await setControl(page, 'select[name=concept]', 'sentiment');
  // Back: sentiment's numbers and baseline, from the store, under the sentiment label.
  const again = await settle(page, [0, 4]);
  assert.deepEqual(again.points.filter((p) => [0, 4].includes(p.strength)), a.points.filter((p) => [0, 4].includes(p.strength)));
  assert.equal(again.baselines, a.baselines);
  assert.equal(await page.locator('steer-lab select[name=concept]').inputValue(), 'sentiment');
  // Still responsive: a layer move computes a new curve at the new layer.
  await setControl(page, 'input[name=layer]', 14);
  await waitFor(page, 'the fit at layer 14', (_, lab) => / at layer 14 /.test(lab('[data-role=fit-info]').textContent));
  await settle(page, [4]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a site round trip ends on the method\'s own site with its numbers', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, `#concept=pirate&strength=3&layer=12&${SMALL}`);
  await ready(page);
  const own = await settle(page, [0, 3]);
  assert.match(own.fit, /\(residual\)/);
  for (const site of ['attn_out', 'mlp_mid']) {
    await setControl(page, 'select[name=site]', site);
    const s = await settle(page, [3]);
    assert.match(s.fit, new RegExp(`\\(${site}\\)`), `fit info at ${site}: ${s.fit}`);
  }
  await setControl(page, 'select[name=site]', '');
  await waitFor(page, 'the residual fit', (_, lab) => /\(residual\)/.test(lab('[data-role=fit-info]').textContent));
  const back = await settle(page, [0, 3]);
  assert.deepEqual(back.points.filter((p) => [0, 3].includes(p.strength)), own.points.filter((p) => [0, 3].includes(p.strength)));
  assert.deepEqual(errors, []);
  await page.close();
});

test('a revisited strength shows its own steered text, not the last one generated', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page } = await openPage(ctx, `#concept=ocean&layer=10&${SMALL}`);
  await ready(page);
  const slider = page.locator('steer-lab input[name=strength]');
  await slider.fill('7.5');
  const first = await steeredAt(page, 7.5);
  await slider.fill('-4');
  await steeredAt(page, -4);
  await slider.fill('7.5');
  const again = await steeredAt(page, 7.5);
  assert.equal(again, first);
  const label = await labText(page, '[data-role=steered-label]');
  assert.match(label, /strength \+7\.5\)$/, `label: ${label}`);
  assert.equal(await page.locator('steer-lab [data-role=steered]').evaluate((e) => e.classList.contains('stale')), false);
  await page.close();
});

test('a link taken after going back reproduces the screen in a fresh browser', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page } = await openPage(ctx, `#concept=sentiment&layer=9&strength=2&${SMALL}`);
  await ready(page);
  await settle(page, [2]);
  await setControl(page, 'input[name=layer]', 11);
  await settle(page, [2]);
  await setControl(page, 'input[name=layer]', 9);
  const shown = await settle(page, [0, 2]);
  const link = page.url();
  assert.match(link, /layer=9/);
  await page.close();
  // A fresh profile: nothing cached, everything recomputed from the link alone.
  const dir = mkdtempSync(join(tmpdir(), 'steerscope-link-'));
  const fresh = await playwright.chromium.launchPersistentContext(dir, { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const other = await fresh.newPage();
    await other.goto(link);
    await ready(other);
    const got = await settle(other, [0, 2]);
    const pick = (s) => s.points.filter((p) => [0, 2].includes(p.strength)).map(({ strength, pref, util }) => ({ strength, pref, util }));
    assert.deepEqual(pick(got), pick(shown));
    assert.equal(got.fit, shown.fit);
    assert.ok(link.startsWith(base()));
  } finally {
    await fresh.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('changing the number of held-out pairs does not refit the vector', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page } = await openPage(ctx, `#concept=formality&layer=13&strength=2&${SMALL}`);
  await ready(page);
  const before = await settle(page, [2]);
  await watchPhases(page);
  await setControl(page, 'input[name=n_test]', 3);
  await waitFor(page, 'a point over 3 held-out pairs', (_, lab) =>
    [...lab('[data-role=points] tbody').children].some((r) => r.dataset.source === 'live' && r.dataset.strength === '2' && r.dataset.pairs === '3'));
  const phases = await page.evaluate(() => window.__phases);
  assert.ok(!phases.includes('activations') && !phases.includes('fit'), `phases after changing n_test: ${phases}`);
  assert.equal(await labText(page, '[data-role=fit-info]'), before.fit, 'the same vector');
  await page.close();
});
