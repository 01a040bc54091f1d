// Loads the wasm package once per worker (the steering worker and the lab worker each own one
// instance: they share no memory, so a long lab training run never blocks steering).
//
// Two builds of the same code (web/build.sh): web/pkg/relaxed/ uses relaxed SIMD (a one-
// instruction Q4 × Q8 dot product), web/pkg/ plain SIMD128. Both give the same bits
// (tests/browser/kernels.test.mjs); the relaxed one runs where the browser validates a
// relaxed-SIMD instruction, the other everywhere else.
/** The message of a thrown value (wasm-bindgen throws JsError objects, JS code may throw strings). */
export const errText = (/** @type {any} */ e) => String((e && e.message) || e);
/** A wasm result as a plain object (serde maps arrive as JS Maps). */
export const plain = (/** @type {any} */ x) => (x instanceof Map ? Object.fromEntries(x) : x);

/** The smallest module using `i32x4.relaxed_dot_i8x16_i7x16_add_s` (opcode 0xfd 0x113): one
 *  function (v128, v128, v128) → v128. It validates exactly where relaxed SIMD is supported. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 v128 v128) → v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x93, 0x02, 0x0b, // its body
]);

/** Whether this engine runs relaxed SIMD. */
export const hasRelaxedSimd = () => typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_PROBE);

/** Where each build's wasm-bindgen glue lives (absolute URLs, so any page can import them). */
export const BUILDS = {
  relaxed: new URL('./pkg/relaxed/steerscope_wasm.js', import.meta.url).href,
  simd128: new URL('./pkg/steerscope_wasm.js', import.meta.url).href,
};

/** The build to load here: relaxed SIMD where supported, SIMD128 otherwise. */
export const pickBuild = () => (hasRelaxedSimd() ? 'relaxed' : 'simd128');

/** @type {Promise<any> | null} */
let loading = null;

/** The wasm module (initialised), `build` chosen by feature detection unless given. A missing
 *  relaxed package falls back to the SIMD128 one. @param {'relaxed' | 'simd128'} build */
export function loadWasm(build = pickBuild()) {
  if (!loading) {
    loading = (async () => {
      let mod;
      try {
        mod = await importBuild(build);
      } catch (e) {
        loading = null; // a later call may find the package built
        throw new Error(`wasm package missing or broken (web/pkg/steerscope_wasm.js): build it first, ` +
          `as tests/run.sh does (${errText(e)})`);
      }
      await mod.default(); // fetches and compiles steerscope_wasm_bg.wasm next to the glue
      return mod;
    })();
  }
  return loading;
}

/** @param {'relaxed' | 'simd128'} build */
async function importBuild(build) {
  if (build === 'relaxed') {
    try {
      return await import(BUILDS.relaxed);
    } catch (e) {
      console.warn(`steerscope: relaxed-SIMD build not loadable, using SIMD128 (${errText(e)})`);
    }
  }
  return import(BUILDS.simd128);
}
