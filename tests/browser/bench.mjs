// Prefill and decode speed in headless Chromium, one thread: our two wasm builds (SIMD128 and
// relaxed SIMD) and wllama (llama.cpp compiled to wasm, @wllama/wllama from npm) on the same
// GGUF, each in a fresh page, then the ratios. Prints one JSON line per engine. Not a test —
// run it by hand after building web/pkg (web/build.sh) and `npm ci` in web/:
//   node tests/browser/bench.mjs
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from './page.mjs';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const { chromium } = createRequire(join(WEB, 'package.json'))('playwright-core');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(machine());

const server = spawn(process.execPath, [join(WEB, 'serve.mjs'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((ok) => server.stdout.on('data', (d) => {
  const m = /(http:\/\/\S+)/.exec(String(d)); if (m) ok(m[1]);
}));
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'steerscope-bench-')), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

async function run(query) {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`  [page] ${m.text()}`); });
  await page.goto(`${url}bench/?${query}`);
  await page.waitForFunction(() => document.getElementById('result').textContent !== 'running…', null, { timeout: 900_000 });
  const text = await page.locator('#result').textContent();
  await page.close();
  if (!text.startsWith('{')) throw new Error(`${query}: ${text}`);
  const r = JSON.parse(text);
  console.log(JSON.stringify({ ...r, prompt_text: undefined }), `  (load average ${load()})`);
  return r;
}

try {
  console.log(`load average ${load()}`);
  const simd = await run('engine=steerscope&build=simd128');
  const relaxed = await run('engine=steerscope&build=relaxed');
  const auto = await page0Build();
  const wl = await run(`engine=wllama&prompt=${encodeURIComponent(simd.prompt_text)}`);
  if (wl.prefill_tokens !== simd.prefill_tokens) {
    console.log(`note: wllama read the prompt as ${wl.prefill_tokens} tokens, we as ${simd.prefill_tokens}`);
  }
  for (const r of [simd, relaxed]) {
    console.log(`${r.engine} / wllama: prefill ${(r.prefill_tok_s / wl.prefill_tok_s).toFixed(2)}×, ` +
      `decode ${(r.decode_tok_s / wl.decode_tok_s).toFixed(2)}×`);
  }
  console.log(`relaxed / simd128: prefill ${(relaxed.prefill_tok_s / simd.prefill_tok_s).toFixed(2)}×, ` +
    `decode ${(relaxed.decode_tok_s / simd.decode_tok_s).toFixed(2)}×; this browser loads: ${auto}`);
  console.log(`load average ${load()}`);
} finally {
  await browser.close();
  server.kill();
}

/** Which build the page's feature detection picks in this browser. */
async function page0Build() {
  const page = await browser.newPage();
  await page.goto(`${url}bench/?engine=none`);
  const build = await page.evaluate(async () => (await import(`${location.origin}/wasm.js`)).pickBuild());
  await page.close();
  return build;
}
