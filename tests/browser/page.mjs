// The shared harness of the browser tests: web/serve.mjs on a free port, one headless Debian
// chromium (Playwright), pages that record their errors, and waits that fail early with the
// page's own error box. Each test file runs in its own process and so gets its own browser.
//
//   (cd web && npm ci) && <build web/pkg/, as tests/run.sh does> && node --test tests/browser/
//
// Tests needing the wasm package (web/pkg/) or the model file are skipped with the reason,
// unless STEERSCOPE_REQUIRE_BROWSER=1 makes a missing piece a failure.
// Nothing here asserts timings: the model may run at a few tokens per second on a shared core.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, homedir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const WEB = join(REPO, 'web');
export const OUT = join(HERE, 'out');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const MODEL = join(process.env.STEERSCOPE_HOME || join(homedir(), '.cache', 'steerscope'),
  'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
export const STEP = 10 * 60_000; // per-step ceiling: a slow, shared CPU must not make this flaky
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-webgpu'];

/** What a test needs: `playwright` if it can run, else the `reason` it cannot.
 *  need: 'page' (the static page only), 'wasm' (+ web/pkg/), 'model' (+ the model file). */
export function missing(need) {
  let playwright = null;
  try {
    playwright = createRequire(join(WEB, 'package.json'))('playwright-core');
  } catch {
    return { reason: 'playwright-core not installed: run `npm install` in web/' };
  }
  if (!existsSync(CHROMIUM)) return { reason: `no chromium at ${CHROMIUM}` };
  if (need !== 'page' && !existsSync(join(WEB, 'pkg', 'steerscope_wasm.js'))) {
    return { reason: 'web/pkg/ missing: build the wasm package first (see tests/run.sh)' };
  }
  if (need === 'model' && !existsSync(MODEL)) return { reason: `model file missing: ${MODEL}` };
  return { playwright };
}

/** The x86 SIMD flags of this CPU and the load average, for every benchmark's header (CPUs
 *  differ between machines). */
export function machine() {
  const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m) || ['', ''])[1]
    .split(' ').filter((f) => /^(avx|sse|fma|f16c)/.test(f)).join(' ');
  return `CPU flags: ${flags}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

export function skipOrFail(t, reason) {
  if (process.env.STEERSCOPE_REQUIRE_BROWSER === '1') assert.fail(reason);
  t.skip(reason);
}

// ---- shared server + browser ------------------------------------------------------------------
let server = null;
let baseUrl = null;
let context = null;
let userDir = null;

/** Start web/serve.mjs (extra `args`) on a free port and resolve with the URL it prints and the
 *  child process (stop it with `child.kill()`). */
export function serve(args = []) {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(WEB, 'serve.mjs'), '--port', '0', '--host', '127.0.0.1', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`serve.mjs did not start: ${err}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/steerscope demo: (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); ok({ url: m[1], child }); }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`serve.mjs exited (${code}): ${err}`)); });
    process.on('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  });
}

async function startServer() {
  const { url, child } = await serve();
  server = child;
  return url;
}

/** Starts the shared server if needed (without a browser); resolves with its base URL. */
export async function ensureServer() {
  if (!baseUrl) baseUrl = await startServer();
  return baseUrl;
}

/** The base URL of the shared server (after `browser()` or `ensureServer()`). */
export const base = () => baseUrl;

export async function browser(playwright) {
  if (context) return context;
  if (!baseUrl) baseUrl = await startServer();
  userDir = mkdtempSync(join(tmpdir(), 'steerscope-chromium-'));
  context = await playwright.chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 900 },
  });
  return context;
}

/** A fresh browser profile (nothing cached, no service worker), closed and removed by the
 *  returned `close`. */
export async function freshContext(playwright, options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'steerscope-fresh-'));
  const ctx = await playwright.chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS, ...options });
  return { ctx, close: async () => { await ctx.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Counts the GET requests for the model file in `ctx` from now on; returns the count's reader. */
export async function countModelDownloads(ctx) {
  let downloads = 0;
  await ctx.route('**/models/model.gguf', (route) => {
    if (route.request().method() === 'GET') downloads++;
    return route.continue();
  });
  return () => downloads;
}

/** A fresh page that records console errors and uncaught exceptions. */
export async function openPage(ctx, hash) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${baseUrl}${hash}`, { waitUntil: 'load' });
  return { page, errors };
}

/** Wait until `predicate` (run in the page, returning truthy when done) holds, failing early
 *  with the message of an error box (the page's or any lab's) if one appears first. In the
 *  predicate, `lab(sel, tag?)` queries inside the first <steer-lab> (or `tag`)'s shadow root. */
export async function waitFor(page, what, predicate, arg, { errors = true } = {}) {
  const handle = await page.waitForFunction(([src, a, checkErrors]) => {
    const labs = [...document.querySelectorAll('steer-lab, attention-lab')];
    if (checkErrors) {
      for (const l of labs) {
        const box = l.shadowRoot && l.shadowRoot.querySelector('.box-error');
        if (box && !box.hidden) return { error: box.innerText };
      }
    }
    const lab = (sel, tag = 'steer-lab') => {
      const el = document.querySelector(tag);
      return el && el.shadowRoot ? el.shadowRoot.querySelector(sel) : null;
    };
    // eslint-disable-next-line no-new-func
    return new Function('a', 'lab', `return (${src})(a, lab)`)(a, lab) ? { ok: true } : null;
  }, [predicate.toString(), arg, errors], { timeout: STEP, polling: 200 });
  const r = await handle.jsonValue();
  if (r.error) assert.fail(`page showed an error while waiting for ${what}: ${r.error}`);
}

/** The text of an element inside a lab's shadow root. */
export function labText(page, sel, tag = 'steer-lab') {
  return page.locator(`${tag} ${sel}`).first().textContent();
}

/** The points table of the first <steer-lab>: one object per row. */
export function rows(page, tag = 'steer-lab') {
  return page.locator(`${tag} [data-role=points] tbody tr`).evaluateAll((trs) => trs.map((tr) => ({
    strength: Number(tr.dataset.strength),
    pref: Number(tr.dataset.pref),
    util: tr.dataset.util === '' ? null : Number(tr.dataset.util),
    off: tr.dataset.offManifold === '' ? null : Number(tr.dataset.offManifold),
    source: tr.dataset.source,
    pairs: Number(tr.dataset.pairs),
  })));
}

/** Waits until the lab's steered pane shows finished text at strength `s`; returns it. */
export async function steeredAt(page, s) {
  await waitFor(page, `steered text at strength ${s}`, (want, lab) => {
    const el = lab('[data-role=steered]');
    return el && el.dataset.strength === want && el.dataset.done === 'true';
  }, String(s));
  return labText(page, '[data-role=steered]');
}

/** Sets a lab control the way a visitor does (fill + the events a real edit fires). */
export async function setControl(page, sel, value, tag = 'steer-lab') {
  const loc = page.locator(`${tag} ${sel}`).first();
  // A control under a closed "more" is opened first, as a visitor would.
  await loc.evaluate((el) => { const d = el.closest('details'); if (d && !d.open) d.open = true; });
  const kind = await loc.evaluate((el) => el.tagName.toLowerCase() === 'select' ? 'select' : el.type);
  if (kind === 'select') await loc.selectOption(String(value));
  else await loc.fill(String(value));
  await loc.dispatchEvent('change');
}

/** Registers the file's setup and teardown (call once, at the top of a test file). */
export function useBrowser() {
  before(() => mkdirSync(OUT, { recursive: true }));


  after(async () => {
  // Everything we started, by its own handle: the browser, then the server by its pid.
  if (context) await context.close().catch(() => {});
  if (server && server.exitCode === null) server.kill('SIGTERM');
  if (userDir) rmSync(userDir, { recursive: true, force: true });
  });
  process.on('exit', () => { if (server && server.exitCode === null) server.kill('SIGKILL'); });
}

