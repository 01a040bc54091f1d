// Prefill and decode speed of the wasm build in headless Chromium (single-threaded). Prints one
// JSON line. Not a test — run it by hand after building web/pkg:  node tests/browser/bench.mjs
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const { chromium } = createRequire(join(WEB, 'package.json'))('playwright-core');
const server = spawn('node', [join(WEB, 'serve.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((ok) => server.stdout.on('data', (d) => {
  const m = /(http:\/\/\S+)/.exec(String(d)); if (m) ok(m[1]);
}));
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'steerscope-bench-')), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(url + 'bench/');
  await page.waitForFunction(() => document.getElementById('result').textContent !== 'running…', null, { timeout: 600_000 });
  const text = await page.locator('#result').textContent();
  console.log(text);
  const loadavg = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`load average ${loadavg}`);
} finally {
  await browser.close();
  server.kill();
}
