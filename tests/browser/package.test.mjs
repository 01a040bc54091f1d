// The npm package as someone else uses it: `npm pack` (web/pack.sh) → install the tarball into
// a temporary folder, offline → type-check the TypeScript example (web/examples/ts) against the
// installed declarations with `tsc --noEmit`, strict → compile it (tsc only; nothing bundled)
// → run it in Chromium from that folder: its sweep point equals the demo page's for the same
// model, pairs, layer and strength.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STEP, missing, skipOrFail, browser, openPage, waitFor, useBrowser, rows, serve } from './page.mjs';

useBrowser();

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const TSC = join(WEB, 'node_modules', 'typescript', 'bin', 'tsc');

test('npm pack → install offline → tsc --noEmit (strict) → the example computes the page\'s point', { timeout: 6 * STEP }, async (t) => {
  const { playwright, reason } = missing('model');
  if (!playwright) return skipOrFail(t, reason);
  execFileSync('bash', [join(WEB, 'pack.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = readdirSync(join(WEB, 'dist')).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz, 'npm pack made a tarball');
  const dir = mkdtempSync(join(tmpdir(), 'steerscope-npm-'));
  let server = null;
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(WEB, 'dist', tgz)], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    cpSync(join(WEB, 'examples', 'ts'), dir, { recursive: true });
    // Types: strict, against the installed package's declarations only.
    execFileSync(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
    // The folder served as a static site (the model beside it, as models/model.gguf).
    const served = await serve(['--root', dir]);
    server = served.child;
    const ctx = await browser(playwright);
    const page = await ctx.newPage();
    await page.goto(`${served.url}index.html`);
    await page.waitForFunction(() => document.getElementById('out').textContent !== 'running…', null, { timeout: STEP });
    const out = await page.textContent('#out');
    assert.ok(out.startsWith('{'), out);
    const example = JSON.parse(out);
    await page.close();
    // The demo page with the same settings.
    const demo = (await openPage(ctx, '#concept=sentiment&n_train=4&n_test=2&layer=15&strength=4&max_tokens=4')).page;
    await waitFor(demo, 'the point at 4', (_, lab) => [...lab('[data-role=points] tbody').children].some((r) => r.dataset.source === 'live' && r.dataset.strength === '4'));
    const shown = (await rows(demo)).find((r) => r.source === 'live' && r.strength === 4);
    assert.equal(example.point.pref_odds, shown.pref);
    assert.equal(example.point.util_odds, shown.util);
    assert.equal(example.fit.layer, 15);
    t.diagnostic(`example point: ${JSON.stringify(example.point)}`);
    await demo.close();
  } finally {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
