// The live page's speed as a visitor meets it (issue 13), for 1 and 2 threads, model cached:
// page open → first curve (precomputed) and first live point, the fit (the one activation pass),
// a layer change (curve on screen, first live point), new strengths (first estimate and full
// point, p50/p95 over 12 moves), cached strengths (p50/p95), the full live sweep with both
// baselines. Prints numbers with the load average and the CPU flags; asserts nothing. Two
// threads load the threaded build (web/pkg/threads/, SIMD128) where one thread gets the
// relaxed-SIMD build: the engine line printed says which ran. Run after web/build.sh:
//   node tests/browser/bench-page.mjs
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, serve } from './page.mjs';

const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const { chromium } = createRequire(join(WEB, 'package.json'))('playwright-core');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const ms = (x) => `${Math.round(x)} ms`;

/** In the page: wait until `pred(lab)` holds, polling each animation frame; resolves with the time. */
const until = (page, pred, arg, timeout = 900_000) => page.evaluate(([src, a, limit]) => new Promise((ok, fail) => {
  const lab = () => document.querySelector('steer-lab').shadowRoot;
  const helpers = `const rowsOf = (lab) => [...lab.querySelector('[data-role=points] tbody').children];
    const liveAt = (lab, m) => rowsOf(lab).some((r) => r.dataset.source === 'live' && Number(r.dataset.strength) === m);
    const partialAt = (lab, m) => rowsOf(lab).some((r) => (r.dataset.source === 'partial' || r.dataset.source === 'live') && Number(r.dataset.strength) === m);`;
  // eslint-disable-next-line no-new-func
  const f = new Function('lab', 'a', `${helpers}\nreturn (${src})(lab, a)`);
  const t0 = performance.now();
  const tick = () => {
    if (f(lab(), a)) return ok(performance.now());
    if (performance.now() - t0 > limit) return fail(new Error(`timed out: ${src}`));
    requestAnimationFrame(tick);
  };
  tick();
}), [pred.toString(), arg, timeout]);

/* global rowsOf, liveAt, partialAt -- defined inside the page by `until` */

async function run(threads, url) {
  const dir = mkdtempSync(join(tmpdir(), 'steerscope-bench-page-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
  });
  const out = { threads };
  try {
    // First visit caches the model (not timed).
    let page = await ctx.newPage();
    await page.goto(`${url}?threads=${threads}#strength=2&model=`);
    await page.evaluate(async () => (await import('/steerscope.js')).SteerScope.load('models/model.gguf'));
    await page.close();

    // Page open → precomputed curve, first live point (at the slider: 2).
    page = await ctx.newPage();
    const t0 = Date.now();
    await page.goto(`${url}?threads=${threads}#strength=2`);
    const nav = await page.evaluate(() => performance.timeOrigin);
    const rel = (t) => nav + t - t0;
    out.engine = await page.evaluate(async () => (await import('/steerscope.js')).SteerScope.engine());
    out.first_curve_precomputed_ms = rel(await until(page, (lab) => rowsOf(lab).filter((r) => r.dataset.source === 'precomputed').length >= 10));
    const fitStart = await until(page, (lab) => lab.querySelector('[data-role=progress]').dataset.phase === 'activations');
    const fitEnd = await until(page, (lab) => / at layer 15 /.test(lab.querySelector('[data-role=fit-info]').textContent) && !/precomputed/.test(lab.querySelector('[data-role=fit-info]').textContent));
    out.fit_ms = fitEnd - fitStart;
    out.first_live_point_ms = rel(await until(page, (lab, m) => liveAt(lab, m), 2));
    // Full live sweep with both baselines at the default layer.
    const sweepEnd = await until(page, (lab) => {
      const live = rowsOf(lab).filter((r) => r.dataset.source === 'live').length;
      const b = lab.querySelector('[data-role=baselines]');
      const random = JSON.parse(b.dataset.random || '[]').filter((p) => p.source === 'live').length;
      return live >= 13 && random >= 12 && b.dataset.promptingPref !== '' && !/precomputed/.test(b.textContent);
    });
    out.full_sweep_with_baselines_ms = sweepEnd - fitEnd;

    // Layer change: a curve on screen (precomputed), then the first live point.
    const setLayer = (l) => page.evaluate((v) => {
      const el = document.querySelector('steer-lab').shadowRoot.querySelector('input[name=layer]');
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
      return performance.now();
    }, l);
    const l0 = await setLayer(16);
    out.layer_change_curve_ms = (await until(page, (lab) => / at layer 16 /.test(lab.querySelector('[data-role=fit-info]').textContent) && rowsOf(lab).length >= 10)) - l0;
    out.layer_change_first_live_point_ms = (await until(page, (lab) => liveAt(lab, 2))) - l0;

    // New strengths (off the default grid: never computed), one after another.
    const setStrength = (m) => page.evaluate((v) => {
      const el = document.querySelector('steer-lab').shadowRoot.querySelector('input[name=strength]');
      el.value = String(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
      return performance.now();
    }, m);
    const fresh = [2.5, -2.5, 4.5, -4.5, 6.5, -6.5, 1.5, -1.5, 3.5, -3.5, 7.5, -7.5];
    const first = [];
    const full = [];
    for (const m of fresh) {
      const s = await setStrength(m);
      first.push((await until(page, (lab, v) => partialAt(lab, v), m)) - s);
      full.push((await until(page, (lab, v) => liveAt(lab, v), m)) - s);
    }
    out.new_point_first_estimate = { p50: pct(first, 50), p95: pct(first, 95), n: first.length };
    out.new_point_all_pairs = { p50: pct(full, 50), p95: pct(full, 95), n: full.length };
    // Cached strengths: back to ones computed above.
    const cached = [];
    for (const m of fresh.slice(0, 10)) {
      const s = await setStrength(m);
      cached.push((await until(page, (lab, v) => liveAt(lab, v), m)) - s);
    }
    out.cached_point = { p50: pct(cached, 50), p95: pct(cached, 95), n: cached.length };
  } finally {
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const { url, child } = await serve();
try {
  console.log(`page benchmark (${url}); ${machine()}`);
  for (const threads of [1, 2]) {
    const r = await run(threads, url);
    const q = (x) => `p50 ${ms(x.p50)}, p95 ${ms(x.p95)} (n=${x.n})`;
    console.log(`threads ${threads} (engine ${JSON.stringify(r.engine)}), load average ${load()}:\n` +
      `  page open → first curve (precomputed) ${ms(r.first_curve_precomputed_ms)}; → first live point ${ms(r.first_live_point_ms)}\n` +
      `  fit (one activation pass over 16 training pairs, every layer and site) ${ms(r.fit_ms)}\n` +
      `  full live sweep with both baselines (13 + 12 points + prompting, 8 held-out pairs) ${ms(r.full_sweep_with_baselines_ms)}\n` +
      `  layer change → curve on screen ${ms(r.layer_change_curve_ms)}; → first live point ${ms(r.layer_change_first_live_point_ms)}\n` +
      `  new strength: first estimate ${q(r.new_point_first_estimate)}; all pairs ${q(r.new_point_all_pairs)}\n` +
      `  cached strength: ${q(r.cached_point)}`);
    console.log(JSON.stringify(r));
  }
} finally {
  child.kill();
}
