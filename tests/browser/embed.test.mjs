// Issue 15 in headless Chromium: the elements on a host page (web/examples/), the iframe, the
// page from a sub-path of a static host without isolation headers (the service worker adds
// them), offline after the first visit, figure exports that hold the plotted numbers, a good
// guest (hostile attributes and links, the host's own hash, a model from another host, 320 px).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser, labText, rows, serve, base, ensureServer, freshContext, countModelDownloads } from './page.mjs';

useBrowser();

test('two elements on a host page share one model download; attributes re-render; events fire', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const { ctx, close } = await freshContext(playwright);
  try {
    const downloads = await countModelDownloads(ctx);
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.addInitScript(() => {
      window.__events = [];
      for (const type of ['loaded', 'point', 'error']) addEventListener(type, (e) => window.__events.push({ type, id: e.target.id }));
    });
    await page.goto(`${await ensureServer()}examples/`);
    const ready = (id) => waitFor(page, `#${id} ready`, (sel) => document.querySelector(sel).dataset.model === 'ready', `#${id}`);
    await ready('pirate');
    await ready('ocean');
    assert.equal(downloads(), 1, 'one download of the model for two elements');
    // Only the controls the host asked for.
    assert.equal(await page.locator('#pirate select[name=concept]').isVisible(), false);
    assert.equal(await page.locator('#pirate input[name=layer]').isVisible(), true);
    // Different settings, each its own numbers.
    await waitFor(page, 'both fits', () => ['pirate', 'ocean'].every((id) => /at layer/.test(document.querySelector(`#${id}`).shadowRoot.querySelector('[data-role=fit-info]').textContent)));
    assert.match(await page.locator('#ocean [data-role=fit-info]').textContent(), /^pca at layer 18/);
    assert.match(await page.locator('#pirate [data-role=fit-info]').textContent(), /^diffmean at layer 12/);
    // An attribute change re-renders: the slider and the fit follow.
    await page.evaluate(() => document.querySelector('#ocean').setAttribute('layer', '17'));
    await waitFor(page, 'the ocean lab at layer 17', () => /^pca at layer 17/.test(document.querySelector('#ocean').shadowRoot.querySelector('[data-role=fit-info]').textContent));
    assert.equal(await page.locator('#ocean input[name=layer]').inputValue(), '17');
    // A control change is kept in the element's own attribute (the host's URL is not touched).
    await page.locator('#pirate input[name=strength]').fill('6');
    assert.equal(await page.getAttribute('#pirate', 'strength'), '6');
    assert.ok(!page.url().includes('strength='), `the host URL was changed: ${page.url()}`);
    await waitFor(page, 'point events from both', () => ['pirate', 'ocean'].every((id) => window.__events.some((e) => e.type === 'point' && e.id === id)));
    const events = await page.evaluate(() => window.__events);
    assert.ok(events.some((e) => e.type === 'loaded' && e.id === 'pirate') && events.some((e) => e.type === 'loaded' && e.id === 'ocean'));
    // The host's dark `pre` theme does not reach the labs' text.
    const colors = await page.locator('#pirate [data-role=base]').evaluate((e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]);
    assert.notEqual(colors[0], colors[1], `text colour ${colors[0]} on ${colors[1]}`);
    // The attention lab on the same page.
    await waitFor(page, 'the attention lab sample', () => /chain/.test(document.querySelector('#lab').shadowRoot.querySelector('[data-role=sample]').textContent));
    assert.ok((await page.evaluate(() => window.__events)).some((e) => e.type === 'loaded' && e.id === 'lab'), 'the attention lab says loaded');
    // Its parts follow `controls` as the steering lab's do; an unknown part is named in a note.
    await page.evaluate(() => document.querySelector('#lab').setAttribute('controls', 'construct runs ladder'));
    assert.equal(await page.locator('#lab [data-role=construct]').isVisible(), true);
    assert.equal(await page.locator('#lab [data-role=train]').isVisible(), false);
    assert.equal(await page.locator('#lab [data-role=sample]').isVisible(), false);
    assert.match(await page.locator('#lab .box-note').last().textContent(), /ignored unknown controls: ladder/);
    await page.evaluate(() => document.querySelector('#lab').removeAttribute('controls'));
    assert.equal(await page.locator('#lab [data-role=train]').isVisible(), true);
    await page.screenshot({ path: join(OUT, 'examples.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the iframe embed sizes itself and runs', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page } = await openPage(ctx, 'examples/iframe.html');
  const frame = page.frameLocator('#steerscope');
  await frame.locator('steer-lab [data-role=base]').waitFor({ timeout: STEP });
  await waitFor(page, 'the iframe to grow to its content', () => parseFloat(document.querySelector('#steerscope').style.height) > 400);
  const f = page.frames().find((x) => x.url().includes('embed.html'));
  await f.waitForFunction(() => document.querySelector('steer-lab').dataset.model === 'ready', null, { timeout: STEP });
  await f.waitForFunction(() => document.querySelector('steer-lab').shadowRoot.querySelector('[data-role=steered]').dataset.done === 'true', null, { timeout: STEP });
  assert.equal(await frame.locator('steer-lab input[name=strength]').inputValue(), '3', 'state from the frame\'s own hash');
  await page.close();
});

test('exported SVG, CSV and JSON hold the plotted numbers with their provenance', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const { page } = await openPage(ctx, '#concept=ocean&n_train=4&n_test=2&layer=8&strength=3&max_tokens=4');
  await waitFor(page, 'live points', (_, lab) => [...lab('[data-role=points] tbody').children].filter((r) => r.dataset.source === 'live').length >= 3);
  const save = async (kind) => {
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: STEP }), page.locator(`steer-lab button[name=export-${kind}]`).click()]);
    const file = join(OUT, dl.suggestedFilename());
    await dl.saveAs(file);
    return readFileSync(file);
  };
  const table = (await rows(page)).filter((r) => r.source === 'live');
  const svg = String(await save('svg'));
  const csv = String(await save('csv'));
  const json = JSON.parse(String(await save('json')));
  const png = await save('png');
  // SVG: the preference marks carry the table's numbers; the metadata the provenance.
  assert.match(svg, /^<\?xml/);
  const pref = svg.slice(svg.indexOf('data-series="preference"'));
  const marks = [...pref.slice(0, pref.indexOf('</g>')).matchAll(/data-x="([^"]+)" data-y="([^"]+)" data-kind="live"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  for (const r of table) assert.ok(marks.some(([x, y]) => x === r.strength && y === r.pref), `SVG lacks (${r.strength}, ${r.pref})`);
  const meta = JSON.parse(svg.match(/<metadata id="steerscope-provenance">([^<]*)<\/metadata>/)[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
  assert.equal(meta.concept, 'ocean');
  assert.equal(meta.layer, 8);
  assert.match(meta.model_sha256, /^[0-9a-f]{64}$/);
  // CSV: a provenance comment line, a header, and one row per plotted point.
  const lines = csv.trim().split('\n');
  assert.ok(lines[0].startsWith('# {'), 'provenance line');
  const header = lines[1].split(',');
  const data = lines.slice(2).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
  for (const r of table) assert.ok(data.some((d) => d.series === 'update' && Number(d.strength) === r.strength && Number(d.pref_odds) === r.pref), `CSV lacks ${r.strength}`);
  assert.equal(json.provenance.method, 'diffmean');
  assert.ok(json.points.length >= table.length);
  assert.deepEqual([...png.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
  await page.close();
});

test('a good guest: hostile attributes and links are refused or shown as text, the host hash is left alone, a foreign model URL asks first, 320 px fits', { timeout: 4 * STEP }, async (t) => {
  const { playwright, reason } = missing('wasm');
  if (!playwright) return skipOrFail(t, reason);
  const ctx = await browser(playwright);
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 320, height: 800 });
  const foreign = [];
  await page.route('https://evil.example/**', (route) => { foreign.push(route.request().url()); return route.abort(); });
  const markup = '<img src=x onerror="window.__pwned=1">';
  // A host page with a section anchor and one element with hostile attributes.
  await page.goto(`${base()}examples/`);
  await page.evaluate((m) => {
    document.body.replaceChildren();
    const a = document.createElement('a');
    a.href = '#results';
    a.id = 'anchor';
    a.textContent = 'results';
    document.body.append(a);
    const el = document.createElement('steer-lab');
    el.id = 'hostile';
    el.setAttribute('prompt', m);
    el.setAttribute('concept', '../../etc/passwd');
    el.setAttribute('layer', 'abc');
    el.setAttribute('strength', '1e309');
    el.setAttribute('method', '<script>');
    el.setAttribute('system', 'x'.repeat(100000));
    el.setAttribute('height', 'expression(alert(1))');
    el.setAttribute('model', '');
    document.body.append(el);
  }, markup);
  const shadow = page.locator('#hostile');
  await waitFor(page, 'the notes', () => document.querySelector('#hostile').shadowRoot.querySelectorAll('.box-note').length >= 3, undefined, { errors: false });
  const notes = await shadow.locator('.box-note').allTextContents();
  t.diagnostic(notes.join(' | '));
  assert.ok(notes.some((n) => /concept/.test(n)) && notes.some((n) => /layer/.test(n)) && notes.some((n) => /method/.test(n)) && notes.some((n) => /system: 100000 characters/.test(n)));
  assert.equal(await shadow.locator('textarea[name=prompt]').inputValue(), markup, 'markup shown as text');
  assert.equal(await page.evaluate(() => document.querySelector('#hostile').shadowRoot.querySelectorAll('img, script').length), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await shadow.locator('input[name=strength]').inputValue(), '10', 'an out-of-range number is clamped');
  // The host's anchor still works and the element leaves the hash alone.
  await page.click('#anchor');
  assert.ok(page.url().endsWith('#results'));
  // 320 px: no sideways scrolling.
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(widths[0] <= widths[1], `page is ${widths[0]} px wide in a ${widths[1]} px viewport`);

  // The demo page at 320 px, opened from a link with hostile values and a foreign model URL.
  await page.goto(`${base()}#concept=%3Cb%3Ex%3C/b%3E&layer=1e999&prompt=${encodeURIComponent(markup)}&model=https://evil.example/m.gguf`);
  const lab = page.locator('steer-lab');
  await lab.locator('[data-role=confirm-model]').waitFor({ timeout: STEP });
  assert.match(await lab.locator('[data-role=confirm-model]').textContent(), /evil\.example/);
  assert.deepEqual(foreign, [], 'nothing fetched from the other host before asking');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await lab.locator('input[name=layer]').inputValue(), '29', 'a huge layer is clamped to the model');
  const pageWidths = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(pageWidths[0] <= pageWidths[1], `demo page is ${pageWidths[0]} px wide at 320`);
  await page.screenshot({ path: join(OUT, 'narrow-320.png'), fullPage: true });
  // Declining keeps the default model; the link's model was never fetched.
  await lab.locator('[data-role=confirm-model] button', { hasText: 'default' }).click();
  await waitFor(page, 'the default model', () => document.querySelector('steer-lab').dataset.model === 'ready', undefined, { errors: false });
  assert.deepEqual(foreign, []);
  await page.close();
});

test('from a sub-path of a static host without isolation headers (threads through the service worker), and offline on the second visit', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  const { url, child } = await serve(['--base', '/papers/2026/steering/', '--no-isolation']);
  const { ctx, close } = await freshContext(playwright);
  try {
    assert.ok(url.endsWith('/papers/2026/steering/'));
    const page = await ctx.newPage();
    await page.goto(`${url}?threads=2#n_train=4&n_test=2&max_tokens=6&layer=20&strength=2`);
    // The service worker reloads the page once, cross-origin isolated: so the threaded build runs.
    await page.waitForFunction(() => window.crossOriginIsolated === true, null, { timeout: STEP });
    await waitFor(page, 'the model from the sub-path', () => document.querySelector('steer-lab').dataset.model === 'ready');
    await waitFor(page, 'the base text and a live point', (_, lab) => lab('[data-role=base]').dataset.done === 'true' &&
      [...lab('[data-role=points] tbody').children].some((r) => r.dataset.source === 'live' && r.dataset.strength === '2'));
    const engine = await page.locator('steer-lab [data-role=engine]').textContent();
    assert.match(engine, /threads: 2 · cross-origin isolated: yes/);
    const before = await rows(page);
    // Second visit, network cut: everything from the caches.
    await ctx.route('**/*', (route) => route.abort());
    await ctx.setOffline(true);
    await page.reload();
    await waitFor(page, 'the model offline', () => document.querySelector('steer-lab').dataset.model === 'ready');
    await waitFor(page, 'the cached point', (_, lab) => [...lab('[data-role=points] tbody').children].some((r) => r.dataset.source === 'live' && r.dataset.strength === '2'));
    const after = await rows(page);
    assert.deepEqual(after.find((r) => r.strength === 2 && r.source === 'live'), before.find((r) => r.strength === 2 && r.source === 'live'));
    assert.match(await labText(page, '[data-role=model-info]'), /from cache/);
    assert.match(await labText(page, '[data-role=engine]'), /threads: 2/, 'the threaded build from the cache too');
  } finally {
    await close();
    child.kill();
  }
});
