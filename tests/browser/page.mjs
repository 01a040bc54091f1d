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
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
const WEB = join(REPO, 'web');
export const OUT = join(HERE, 'out');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MODEL = join(process.env.STEERSCOPE_HOME || join(homedir(), '.cache', 'steerscope'),
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
  if (!existsSync(join(WEB, 'vendor', 'uPlot.esm.js')) && !existsSync(join(WEB, 'node_modules', 'uplot'))) {
    return { reason: 'uPlot not installed: run `npm install` in web/' };
  }
  if (need !== 'page' && !existsSync(join(WEB, 'pkg', 'steerscope_wasm.js'))) {
    return { reason: 'web/pkg/ missing: build the wasm package first (see tests/run.sh)' };
  }
  if (need === 'model' && !existsSync(MODEL)) return { reason: `model file missing: ${MODEL}` };
  return { playwright };
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

/** Start web/serve.mjs on a free port and resolve with the URL it prints. */
function startServer() {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(WEB, 'serve.mjs'), '--port', '0', '--host', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`serve.mjs did not start: ${err}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/steerscope demo: (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`serve.mjs exited (${code}): ${err}`)); });
  });
}

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
 *  with the page's own message if the #error box appears first. */
export async function waitFor(page, what, predicate, arg) {
  const handle = await page.waitForFunction(([src, a]) => {
    const err = document.querySelector('#error');
    if (err && !err.hidden) return { error: err.innerText };
    // eslint-disable-next-line no-new-func
    return new Function('a', `return (${src})(a)`)(a) ? { ok: true } : null;
  }, [predicate.toString(), arg], { timeout: STEP, polling: 250 });
  const r = await handle.jsonValue();
  if (r.error) assert.fail(`page showed an error while waiting for ${what}: ${r.error}`);
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

