// Loads the wasm package once per worker (the steering worker and the lab worker each own one
// instance: they share no memory, so a long lab training run never blocks steering).
/** The message of a thrown value (wasm-bindgen throws JsError objects, JS code may throw strings). */
export const errText = (/** @type {any} */ e) => String((e && e.message) || e);
/** A wasm result as a plain object (serde maps arrive as JS Maps). */
export const plain = (/** @type {any} */ x) => (x instanceof Map ? Object.fromEntries(x) : x);

/** @type {Promise<any> | null} */
let loading = null;

export function loadWasm() {
  if (!loading) {
    loading = (async () => {
      let mod;
      try {
        mod = await import('./pkg/steerscope_wasm.js');
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
