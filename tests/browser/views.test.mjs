// The views of issue 14 (web/views/) in headless Chromium on the real model, through the
// standalone demo page (web/views/demo.html, a wasm Session in a worker). Every number a view
// shows is compared with the same number read through the wasm API in the same test.
// Harness and skip rules: page.mjs. Screenshots: tests/browser/out/views-*.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MEAN_BOUND } from '../node/engine_bounds.mjs';
import { OUT, STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser, ensureServer, freshContext, countModelDownloads } from './page.mjs';

useBrowser();

/** A Session call through the demo's worker. */
const call = (page, method, args = []) => page.evaluate(([m, a]) => window.demo.call(m, a), [method, args]);
const settle = (page) => page.evaluate(() => window.demo.busy());

/** The float32 values of the one `direction.N` tensor of a control-vector GGUF (the file's tail). */
function direction(buf) {
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'GGUF');
  const at = buf.indexOf('direction.');
  const nameLen = Number(buf.readBigUInt64LE(at - 8));
  const width = Number(buf.readBigUInt64LE(at + nameLen + 4));
  const tail = buf.subarray(buf.length - 4 * width);
  return { name: buf.subarray(at, at + nameLen).toString(), values: Array.from({ length: width }, (_, i) => tail.readFloatLE(4 * i)) };
}

test('the views show the numbers the core computed', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page, errors } = await openPage(ctx, 'views/demo.html#concept=sentiment&layer=15&strength=5');
  await waitFor(page, 'the first full paint', () => document.body.dataset.ready === 'true');
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'the page must be isolated for stop to work');
  await page.screenshot({ path: join(OUT, 'views-all.png'), fullPage: true });
  assert.equal(await page.evaluate(() => location.hash), '#concept=sentiment&layer=15&strength=5&method=diffmean',
    'the state is written back to the hash');

  await t.test('the frontier shows three or more methods, each point as the core measured it', async () => {
    const f = await call(page, 'frontier');
    const drawn = await page.$$eval('#frontier circle.pt', (cs) => cs.map((c) => ({ ...c.dataset })));
    const methods = new Set(drawn.map((d) => d.method).filter((m) => !m.startsWith('random@')));
    assert.ok(methods.size >= 3, `methods on the frontier: ${[...methods]}`);
    for (const curve of [...f.methods, ...f.random]) {
      for (const p of curve.points.filter((q) => q.util_odds != null)) {
        const d = drawn.find((x) => x.method === curve.name && Number(x.strength) === p.strength);
        assert.ok(d, `${curve.name} at ${p.strength} is drawn`);
        assert.equal(Number(d.pref), p.pref_odds, `${curve.name} preference at ${p.strength}`);
        assert.equal(Number(d.util), p.util_odds, `${curve.name} utility at ${p.strength}`);
      }
    }
    const ringed = await page.$$eval('#frontier circle.pt.current', (cs) => cs.map((c) => Number(c.dataset.strength)));
    assert.ok(ringed.length >= 3 && ringed.every((s) => s === 5), `ringed: ${ringed}`);
    const prompting = await page.$eval('#frontier path.prompting', (p) => Number(p.dataset.pref));
    assert.ok(Number.isFinite(prompting));
    t.diagnostic(`frontier methods: ${[...methods].join(', ')}`);
  });

  await t.test('each weight view shows the weight change the core computed', async () => {
    const cards = await page.$$eval('#weights .ss-weight', (ws) => ws.map((w) => ({
      name: w.querySelector('h3').textContent.split(':')[0],
      form: w.querySelector('[data-form]').dataset.form,
      formula: w.querySelector('[data-field=formula]').textContent,
      rank: Number(w.querySelector('[data-field=rank]').dataset.value),
      dw: Number(w.querySelector('[data-field=delta_w_norm]').dataset.value),
      db: Number(w.querySelector('[data-field=delta_b_norm]').dataset.value),
      bars: [...w.querySelectorAll('rect.sv')].map((r) => Number(r.dataset.value)),
      cells: w.querySelectorAll('rect.hm').length + w.querySelectorAll('rect.hm-b').length,
    })));
    assert.ok(cards.length >= 2, `weight views: ${cards.map((c) => c.name)}`);
    const forms = new Set();
    for (const c of cards) {
      const w = await call(page, 'weight_change', [c.name, 5, 16, 16, 32]);
      forms.add(w.form);
      assert.equal(c.form, w.form);
      assert.equal(c.formula, w.formula);
      assert.equal(c.rank, w.rank, c.name);
      assert.equal(c.dw, w.delta_w_norm, c.name);
      assert.equal(c.db, w.delta_b_norm, c.name);
      assert.deepEqual(c.bars, w.singular_values, c.name);
      assert.ok(c.cells > 0, `${c.name} has a heatmap`);
      if (w.form === 'vector') assert.equal(w.rank, 0);
      if (w.form === 'low-rank') assert.ok(w.rank >= 1 && w.rank <= 4, `LoRA rank ${w.rank}`);
    }
    assert.ok(forms.has('vector') && forms.size >= 2, `forms shown: ${[...forms]}`);
    await page.locator('#weights').screenshot({ path: join(OUT, 'views-weights.png') });
  });

  await t.test('the manifold view shows the sweep\'s off-manifold scores and their rank correlation', async () => {
    const f = await call(page, 'frontier');
    const curve = f.methods.find((c) => c.name === 'diffmean');
    const rho = await page.$eval('#manifold [data-field=rho]', (e) => e.dataset.value);
    assert.equal(rho === '' ? null : Number(rho), curve.manifold_vs_utility_drop);
    const pts = await page.$$eval('#manifold circle.mp', (cs) => cs.map((c) => ({ s: Number(c.dataset.strength), off: Number(c.dataset.off), drop: Number(c.dataset.drop) })));
    assert.equal(pts.length, curve.manifold.length);
    for (const m of curve.manifold) {
      const p = pts.find((q) => q.s === m.strength);
      assert.deepEqual([p.off, p.drop], [m.off_manifold, m.util_drop]);
    }
    const current = await page.$eval('#manifold [data-field=current-off]', (e) => Number(e.dataset.value));
    assert.equal(current, curve.points.find((p) => p.strength === 5).off_manifold);
  });

  await t.test('the calibration heatmap shows the grid, stops when asked, and a click moves both sliders', async () => {
    // The shipped grid (first paint) against the same cells computed here by the wasm core.
    const shipped = await page.evaluate(() => fetch('../data/updates/sentiment/calibration.json').then((r) => (r.ok ? r.json() : null)));
    const grid = await call(page, 'calibrate', ['diffmean', [9, 15], [0, 5], 0.5]);
    assert.equal(grid.cells.length, 4);
    if (shipped) {
      for (const c of grid.cells) {
        const s = shipped.cells.find((x) => x.layer === c.layer && x.strength === c.strength);
        if (!s) continue;
        // Native (x86) and wasm kernels are bit-identical, the rest of the arithmetic rounds
        // differently: the engines' bound on a mean over pairs (engine_bounds.mjs).
        assert.ok(Math.abs(c.pref_odds - s.pref_odds) <= MEAN_BOUND,
          `shipped preference at layer ${c.layer}, ${c.strength}: ${c.pref_odds} vs ${s.pref_odds}`);
      }
    }
    await page.evaluate((g) => { window.demo.views.heatmap.update(g, { layer: 15, strength: 5 }); }, grid);
    const cells = await page.$$eval('#heatmap rect.cal', (rs) => rs.map((r) => ({ ...r.dataset })));
    assert.equal(cells.length, 2 * grid.changes.length);
    for (const ch of grid.changes) {
      for (const metric of ['pref_gain', 'util_drop']) {
        const c = cells.find((x) => x.metric === metric && Number(x.layer) === ch.layer && Number(x.strength) === ch.strength);
        assert.equal(c.value === '' ? null : Number(c.value), ch[metric], `${metric} at ${ch.layer}, ${ch.strength}`);
      }
    }
    // Stop: a long grid, stopped through the shared flag, ends "cancelled" and leaves the
    // session usable.
    const stopped = page.evaluate(() => window.demo.call('calibrate', ['diffmean', [3, 6, 9, 12, 15, 18, 21, 24, 27], [0, 2.5, 5, 10], 0.5])
      .then(() => 'finished', (e) => e.message));
    await page.waitForTimeout(1500);
    await page.click('#cancel');
    assert.match(await stopped, /cancel/i);
    // A click on a cell emits its layer and strength and moves both sliders there.
    const seen = page.evaluate(() => new Promise((ok) => document.querySelector('#heatmap')
      .addEventListener('cell', (e) => ok(e.detail), { once: true })));
    await page.click('#heatmap rect.cal[data-metric=pref_gain][data-layer="9"][data-strength="5"]');
    assert.deepEqual(await seen, { layer: 9, strength: 5 });
    await waitFor(page, 'the sliders to move', () => document.querySelector('#layer').value === '9'
      && document.querySelector('#strength').value === '5');
    await settle(page);
    await waitFor(page, 'the views at layer 9', () => document.body.dataset.ready === 'true');
    const f = await call(page, 'frontier');
    assert.equal(f.layer, 9, 'the session moved to the clicked layer');
    await page.locator('#heatmap').screenshot({ path: join(OUT, 'views-heatmap.png') });
  });

  await t.test('changing the mask recolours the tokens and changes the steered score', async () => {
    const read = () => page.evaluate(() => ({
      steered: [...document.querySelectorAll('#tokens .tok[data-pos]')].map((s) => s.dataset.steered === 'true'),
      total: Number(document.querySelector('#tokens [data-field=total]').dataset.value),
      promptLen: [...document.querySelectorAll('#tokens .tok.prompt[data-pos]')].length,
    }));
    const before = await read();
    assert.ok(before.steered.every(Boolean), 'the update steers every position');
    await page.click('#tokens input[type=radio][value=completion]');
    await waitFor(page, 'the completion mask', () => [...document.querySelectorAll('#tokens .tok[data-pos]')]
      .every((s) => (s.dataset.steered === 'true') === s.classList.contains('completion')));
    await settle(page);
    const after = await read();
    assert.notEqual(after.total, before.total, 'the steered score moved with the mask');
    const state = await page.evaluate(() => ({ ...window.demo.state }));
    const fx = await call(page, 'token_effects', [state.prompt, state.completion, state.strength, 'completion', 16]);
    assert.equal(after.total, fx.total_change);
    assert.deepEqual(after.steered, fx.steered);
    await page.locator('#tokens').screenshot({ path: join(OUT, 'views-tokens.png') });
  });

  await t.test('combining vectors: the cosine table and the combined update', async () => {
    await page.click('#combine tr[data-name="diffmean"] input[type=checkbox]');
    await page.click('#combine tr[data-name="pca"] input[type=checkbox]');
    await waitFor(page, 'the cosine table', () => document.querySelectorAll('#combine td.cos').length === 4);
    const cos = await page.$eval('#combine td.cos[data-i="0"][data-j="1"]', (td) => Number(td.dataset.value));
    const table = await call(page, 'cosines', [['diffmean', 'pca']]);
    assert.equal(cos, table.cosine[0][1]);
    await page.click('#combine button.combine');
    await waitFor(page, 'the combined update on the frontier',
      () => !!document.querySelector('#frontier li[data-method="1·diffmean + 1·pca"]'));
    await settle(page);
  });

  await t.test('a dropped control-vector GGUF is applied and exported again unchanged', async () => {
    const [first] = await Promise.all([
      page.waitForEvent('download', { timeout: STEP }),
      page.evaluate(() => document.querySelector('#combine').dispatchEvent(new CustomEvent('export', { detail: { name: 'diffmean' } }))),
    ]);
    const file = join(OUT, 'views-exported.gguf');
    await first.saveAs(file);
    const original = direction(readFileSync(file));
    await page.setInputFiles('#combine .drop input[type=file]', { name: 'dropped.gguf', mimeType: 'application/octet-stream', buffer: readFileSync(file) });
    await waitFor(page, 'the dropped vector on the frontier', () => !!document.querySelector('#frontier li[data-method="dropped"]'));
    await settle(page);
    const [again] = await Promise.all([
      page.waitForEvent('download', { timeout: STEP }),
      page.evaluate(() => document.querySelector('#combine').dispatchEvent(new CustomEvent('export', { detail: { name: 'dropped' } }))),
    ]);
    const file2 = join(OUT, 'views-reexported.gguf');
    await again.saveAs(file2);
    const back = direction(readFileSync(file2));
    assert.equal(back.name, original.name);
    // Loaded, rescaled to strength units (dividing by its own norm) and exported at the same
    // strength: the same vector, to f32 rounding of two scalings (1e-5 relative).
    const norm = Math.hypot(...original.values);
    original.values.forEach((v, i) => assert.ok(Math.abs(back.values[i] - v) <= 1e-5 * norm, `entry ${i}: ${back.values[i]} vs ${v}`));
    await page.screenshot({ path: join(OUT, 'views-combined.png'), fullPage: true });
  });

  assert.deepEqual(errors, [], 'console errors on the page');
  await page.close();
});

/** The points the frontier draws for `method`, by strength. */
const drawnPoints = (page, method) => page.$$eval('#frontier circle.pt', (cs, m) => cs
  .filter((c) => c.dataset.method === m).map((c) => ({ s: Number(c.dataset.strength), pref: Number(c.dataset.pref) })), method);

test('a copied link reproduces its state; a concept switch and live training redo every number', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  // Two held-out pairs and no shipped files keep this small; every control comes from the link.
  const link = 'concept=formality&layer=9&strength=2.5&method=pca&mask=completion&n_test=2&shipped=0';
  const { page, errors } = await openPage(ctx, `views/demo.html#${link}`);
  await waitFor(page, 'the first full paint', () => document.body.dataset.ready === 'true');
  const shown = await page.evaluate(() => ({
    concept: document.querySelector('#concept').value, method: document.querySelector('#method').value,
    layer: document.querySelector('#layer').value, strength: document.querySelector('#strength').value,
    mask: document.querySelector('#tokens input[type=radio]:checked').value, hash: location.hash,
  }));
  assert.deepEqual(shown, { concept: 'formality', method: 'pca', layer: '9', strength: '2.5', mask: 'completion', hash: `#${link}` });
  const f = await call(page, 'frontier');
  assert.equal(f.layer, 9);
  assert.equal(f.current, 'pca');
  const formality = await drawnPoints(page, 'diffmean');
  const measured = f.methods.find((c) => c.name === 'diffmean').points;
  for (const p of measured) assert.equal(formality.find((d) => d.s === p.strength)?.pref, p.pref_odds, `formality at ${p.strength}`);

  await t.test('switching the concept refits on its pairs and redraws every method', async () => {
    await page.selectOption('#concept', 'sentiment');
    await waitFor(page, 'the sentiment paint', () => document.body.dataset.ready === 'true' && location.hash.includes('concept=sentiment'));
    await settle(page);
    const g = await call(page, 'frontier');
    const sentiment = await drawnPoints(page, 'diffmean');
    for (const p of g.methods.find((c) => c.name === 'diffmean').points) {
      assert.equal(sentiment.find((d) => d.s === p.strength)?.pref, p.pref_odds, `sentiment at ${p.strength}`);
    }
    const at = (pts, s) => pts.find((d) => d.s === s).pref;
    assert.notEqual(at(sentiment, 5), at(formality, 5), 'the numbers moved with the concept');
  });

  await t.test('an update trained here, with progress, joins the frontier', async () => {
    const options = await page.$$eval('#train-method option', (os) => os.map((o) => o.value));
    assert.ok(options.includes('local-weight-sft'), `trainable: ${options}`);
    await page.selectOption('#train-method', 'local-weight-sft');
    const progressed = page.waitForFunction(() => /^training local-weight-sft at layer 9 \(\d+\/\d+\)$/.test(document.querySelector('#status').textContent),
      null, { timeout: STEP, polling: 50 });
    const started = Date.now();
    await page.click('#train');
    await progressed;
    await waitFor(page, 'the trained update on the frontier', () => !!document.querySelector('#frontier li[data-method="local-weight-sft"]'));
    await settle(page);
    t.diagnostic(`trained and swept in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const g = await call(page, 'frontier');
    assert.equal(g.current, 'local-weight-sft');
    const drawn = await drawnPoints(page, 'local-weight-sft');
    for (const p of g.methods.find((c) => c.name === 'local-weight-sft').points) {
      assert.equal(drawn.find((d) => d.s === p.strength)?.pref, p.pref_odds, `local-weight-sft at ${p.strength}`);
    }
    assert.match(await page.evaluate(() => location.hash), /method=local-weight-sft/);
    const forms = await page.$$eval('#weights [data-form]', (ws) => ws.map((w) => w.dataset.form));
    assert.ok(forms.includes('dense'), `weight views: ${forms}`);
  });

  assert.deepEqual(errors, [], 'console errors on the page');
  await page.close();
});

test('the views page reads the model the labs downloaded from the page\'s model cache (no second download)', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const { ctx, close } = await freshContext(playwright);
  try {
    const downloads = await countModelDownloads(ctx);
    const lab = await ctx.newPage();
    await lab.goto(`${await ensureServer()}#n_train=2&n_test=1`);
    await waitFor(lab, 'the lab\'s model', () => document.querySelector('steer-lab').dataset.model === 'ready');
    await lab.close();
    assert.equal(downloads(), 1, 'the lab downloads the model once');
    const { page, errors } = await openPage(ctx, 'views/demo.html#n_train=2&n_test=1');
    await waitFor(page, 'the first full paint', () => document.body.dataset.ready === 'true');
    assert.equal(downloads(), 1, 'the views page read the cached copy');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
