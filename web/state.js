// The page's whole configuration as one object that round-trips to the URL hash, after
// TensorFlow Playground's state.ts: a link reproduces exactly what was on screen, and every
// control only ever sets one field here. Nothing in this file touches the DOM or the worker.

/** One row per field: its hash key, kind, default and (for numbers) the allowed range. */
export const PROPS = [
  { name: 'model', kind: 'string', def: 'models/model.gguf' },
  { name: 'concept', kind: 'string', def: 'sentiment' },
  // One of core's steer::methods::ALL (the worker lists them); trained ones train in the page.
  { name: 'method', kind: 'string', def: 'diffmean' },
  { name: 'layer', kind: 'int', def: 15, min: 0, max: 1023 },
  // '' = the method's own site (residual for vectors, mlp_out for LoRA / local weight).
  { name: 'site', kind: 'string', def: '' },
  { name: 'strength', kind: 'number', def: 0, min: -10, max: 10 },
  { name: 'prompt', kind: 'string', def: 'Tell me about the town where you grew up.' }, // wrapped in the chat template by core
  { name: 'max_tokens', kind: 'int', def: 32, min: 1, max: 512 },
  // Few pairs keep the browser quick: fitting and scoring cost one forward pass per text.
  { name: 'n_train', kind: 'int', def: 16, min: 1, max: 10000 },
  { name: 'n_test', kind: 'int', def: 8, min: 1, max: 10000 },
];

/** The strengths scored right after fitting, one plot point at a time. Unit: 10 = an update
 *  whose Δh is half the layer's mean residual norm (the CLI's unit), whatever the method. */
export const SWEEP = [-10, -5, -2.5, 0, 2.5, 5, 10];

export class State {
  constructor() {
    for (const p of PROPS) this[p.name] = p.def;
  }

  /** Parse `#k=v&k=v`; unknown keys are ignored and bad values fall back to the default. */
  static fromHash(hash) {
    const s = new State();
    const params = new URLSearchParams(String(hash || '').replace(/^#/, ''));
    for (const p of PROPS) {
      if (params.has(p.name)) s[p.name] = coerce(p, params.get(p.name));
    }
    return s;
  }

  /** Every field, in table order, so a copied link is explicit about what it shows. */
  toHash() {
    const params = new URLSearchParams();
    for (const p of PROPS) params.set(p.name, String(this[p.name]));
    return '#' + params.toString();
  }

  /** Set one field (coerced and clamped like a hash value); returns whether it changed. */
  set(name, value) {
    const p = PROPS.find((q) => q.name === name);
    if (!p) throw new Error(`unknown state field: ${name}`);
    const v = coerce(p, value);
    if (Object.is(v, this[name])) return false;
    this[name] = v;
    return true;
  }
}

function coerce(p, raw) {
  if (p.kind === 'string') return String(raw ?? p.def);
  const n = Number(raw);
  if (raw === '' || raw == null || !Number.isFinite(n)) return p.def;
  const v = p.kind === 'int' ? Math.round(n) : n;
  // `+ 0` turns -0 into 0 so "-0" never shows up in the hash.
  return Math.min(p.max, Math.max(p.min, v)) + 0;
}
