// How closely two engines running the same quantized model agree, used by every test that
// compares numbers across them (sweep_parity.test.mjs, precomputed.test.mjs, the page's
// live-vs-precomputed check). The bounds and why they are what they are: web/lib/bounds.js (the
// page uses the same ones).
import { MEAN_BOUND, NORM_BOUND, ACCURACY_BOUND } from '../../web/lib/bounds.js';

export { MEAN_BOUND, NORM_BOUND, ACCURACY_BOUND };

/** Every numeric leaf of two JSON values, compared into `diffs`; keys missing on either side are
 * reported. `tokens` is the mean completion tokens per pair, the scale of a summed statistic. */
export function compare(native, wasm, path, diffs, tokens = 1) {
  if (typeof native === 'number' || typeof wasm === 'number') {
    const abs = Math.abs(native - wasm);
    const bound = /norm|units/.test(path) ? NORM_BOUND * Math.max(1, Math.abs(native))
      : /summed/.test(path) ? MEAN_BOUND * tokens
        : /accuracy/.test(path) ? ACCURACY_BOUND
          : /rank|count|undefined/.test(path) ? 0 : MEAN_BOUND;
    diffs.push({ path, native, wasm, abs, ok: Number.isFinite(abs) ? abs <= bound : native === wasm });
  } else if (native && typeof native === 'object') {
    for (const k of new Set([...Object.keys(native), ...Object.keys(wasm ?? {})])) {
      compare(native[k], wasm?.[k], `${path}.${k}`, diffs, tokens);
    }
  } else {
    diffs.push({ path, native, wasm, ok: native === wasm });
  }
}

/** The mean completion tokens per pair, from an unsteered point's summed and per-token utility. */
export const tokensPerPair = (unsteered) => Math.abs(unsteered.util_odds_summed / unsteered.util_odds);
