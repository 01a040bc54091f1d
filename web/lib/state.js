// The controls of a lab as one object with a property table, after TensorFlow Playground's
// state.ts: every control sets one field; the fields round-trip to the element's attributes and
// (when the host opts in) to the URL hash under a prefix, so a link reproduces what was on
// screen. Nothing here touches the DOM or a worker.
//
// Every value from outside (an attribute, a hash, a control) goes through `coerce`: numbers are
// clamped to their range, choices checked against their list, text cut to its length and
// checked against its pattern. A refused value keeps the field's previous value and comes back
// as a problem message for the element to show (as text).

/**
 * @typedef {'string' | 'text' | 'int' | 'number' | 'choice' | 'url'} Kind
 * @typedef {{ name: string, attr: string, kind: Kind, def: string | number, min?: number,
 *   max?: number, choices?: string[], maxLen?: number, pattern?: RegExp, label?: string }} Prop
 * @typedef {Record<string, string | number>} Values
 */

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The steering lab's fields. `model` resolves against the package root (see steer-lab.js). */
/** @type {Prop[]} */
export const STEER_PROPS = [
  { name: 'model', attr: 'model', kind: 'url', def: 'models/model.gguf', maxLen: 2000 },
  { name: 'concept', attr: 'concept', kind: 'string', def: 'sentiment', pattern: NAME },
  // Pairs from URLs instead of a shipped concept ('' = the concept's files).
  { name: 'train', attr: 'train-url', kind: 'url', def: '', maxLen: 2000 },
  { name: 'test', attr: 'test-url', kind: 'url', def: '', maxLen: 2000 },
  // One of the core's methods (the worker lists them; checked again by the core).
  { name: 'method', attr: 'method', kind: 'string', def: 'diffmean', pattern: /^[a-z-]{1,40}$/ },
  { name: 'site', attr: 'site', kind: 'choice', def: '', choices: ['', 'residual', 'attn_out', 'mlp_mid', 'mlp_out'] },
  { name: 'positions', attr: 'positions', kind: 'string', def: 'all', pattern: /^(all|prompt|completion|from:\d{1,6})$/ },
  { name: 'layer', attr: 'layer', kind: 'int', def: 15, min: 0, max: 1023 },
  { name: 'strength', attr: 'strength', kind: 'number', def: 0, min: -10, max: 10 },
  { name: 'prompt', attr: 'prompt', kind: 'text', def: 'Tell me about the town where you grew up.', maxLen: 2000 },
  { name: 'max_tokens', attr: 'max-tokens', kind: 'int', def: 32, min: 1, max: 512 },
  // Few pairs keep the browser quick: fitting and scoring cost one forward pass per text.
  { name: 'n_train', attr: 'n-train', kind: 'int', def: 16, min: 1, max: 10000 },
  { name: 'n_test', attr: 'n-test', kind: 'int', def: 8, min: 1, max: 10000 },
  // How prompts are formatted: the chat template's user turn, or the text as it is.
  { name: 'format', attr: 'format', kind: 'choice', def: 'chat', choices: ['chat', 'raw'] },
  // The chat's system turn: '' = the template's own, 'none' = no system turn, else the text.
  { name: 'system', attr: 'system', kind: 'text', def: '', maxLen: 2000 },
  // The prompting baseline's system prompt ('' = the concept's instruction from the index).
  { name: 'instruction', attr: 'instruction', kind: 'text', def: '', maxLen: 2000 },
];

/** The attention lab's fields, seeds included. */
/** @type {Prop[]} */
export const LAB_PROPS = [
  { name: 'task', attr: 'task', kind: 'choice', def: 'lookup', choices: ['lookup', 'composition'] },
  { name: 'L', attr: 'steps-l', kind: 'int', def: 2, min: 1, max: 5 },
  { name: 'k', attr: 'k', kind: 'int', def: 8, min: 2, max: 2000 },
  // '' = ln n + 2 (the construction's own choice)
  { name: 'beta', attr: 'beta', kind: 'string', def: '', pattern: /^(|\d{1,6}(\.\d{1,6})?)$/ },
  { name: 'instances', attr: 'instances', kind: 'int', def: 200, min: 1, max: 100000 },
  { name: 'spec', attr: 'spec', kind: 'string', def: 'F*3', pattern: /^[A-Za-z0-9:*,_-]{1,80}$/ },
  { name: 'd', attr: 'width', kind: 'int', def: 32, min: 8, max: 128 },
  { name: 'steps', attr: 'train-steps', kind: 'int', def: 300, min: 1, max: 20000 },
  { name: 'seed', attr: 'seed', kind: 'int', def: 1, min: 0, max: 4294967295 },
  { name: 'train_seed', attr: 'train-seed', kind: 'int', def: 17, min: 0, max: 4294967295 },
];

/**
 * Checks one raw value against its field.
 * @param {Prop} p
 * @param {unknown} raw
 * @returns {{ value: string | number } | { problem: string }}
 */
export function coerce(p, raw) {
  /** @param {unknown} s */
  const shown = (s) => JSON.stringify(String(s).slice(0, 40)) + (String(s).length > 40 ? '…' : '');
  if (raw == null) return { value: p.def };
  const text = String(raw);
  if (p.kind === 'int' || p.kind === 'number') {
    const n = text.trim() === '' ? NaN : Number(text);
    // ±Infinity ("1e999") is a number out of range: clamped below like any other.
    if (Number.isNaN(n)) return { problem: `${p.name}: ${shown(text)} is not a number` };
    const v = p.kind === 'int' ? Math.round(n) : n;
    // `+ 0` turns -0 into 0 so "-0" never shows up in the hash.
    return { value: Math.min(p.max ?? Infinity, Math.max(p.min ?? -Infinity, v)) + 0 };
  }
  if (p.maxLen !== undefined && text.length > p.maxLen) {
    return { problem: `${p.name}: ${text.length} characters, at most ${p.maxLen} allowed` };
  }
  if (p.kind === 'choice' && !(p.choices || []).includes(text)) {
    return { problem: `${p.name}: ${shown(text)} is not one of ${(p.choices || []).map((c) => c || '""').join(', ')}` };
  }
  if (p.pattern && !p.pattern.test(text)) return { problem: `${p.name}: ${shown(text)} is not a valid value` };
  // A URL is http(s), blob or relative: any other scheme (javascript:, data:, file:) is refused.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text);
  if (p.kind === 'url' && text !== '' && (scheme ? !/^(https?|blob):$/i.test(scheme[0]) : !/^(\.{0,2}\/|[A-Za-z0-9_])/.test(text))) {
    return { problem: `${p.name}: ${shown(text)} is not an http(s) or relative URL` };
  }
  return { value: text };
}

/** A lab's control values, with the property table they follow. */
export class Fields {
  /** @param {Prop[]} props */
  constructor(props) {
    this.props = props;
    /** @type {Values} */
    this.values = Object.fromEntries(props.map((p) => [p.name, p.def]));
    /** True while {@link Fields#reflect} writes an attribute: the element's
     *  attributeChangedCallback ignores its own write. */
    this.reflecting = false;
  }

  /** Writes field `name`'s value to its attribute on `el` (the element's state shows in its
   *  markup, as a host that reads the attribute expects). @param {Element} el @param {string} name */
  reflect(el, name) {
    const p = this.prop(name);
    this.reflecting = true;
    try {
      el.setAttribute(p.attr, String(this.get(p.name)));
    } finally {
      this.reflecting = false;
    }
  }

  /** @param {string} name */
  get(name) {
    return this.values[name];
  }

  /** @param {string} name */
  prop(name) {
    const p = this.props.find((q) => q.name === name || q.attr === name);
    if (!p) throw new Error(`unknown field: ${name}`);
    return p;
  }

  /**
   * Sets one field from a raw value; returns whether it changed, or the problem.
   * @param {string} name field or attribute name
   * @param {unknown} raw
   * @returns {{ changed: boolean, problem?: string }}
   */
  set(name, raw) {
    const p = this.prop(name);
    const r = coerce(p, raw);
    if ('problem' in r) return { changed: false, problem: r.problem };
    if (Object.is(r.value, this.values[p.name])) return { changed: false };
    this.values[p.name] = r.value;
    return { changed: true };
  }

  /**
   * Adopts every field found in `params` under `prefix` (a URL hash); returns the problems.
   * @param {URLSearchParams} params
   * @param {string} prefix
   */
  fromParams(params, prefix) {
    const problems = [];
    for (const p of this.props) {
      if (!params.has(prefix + p.name)) continue;
      const r = this.set(p.name, params.get(prefix + p.name));
      if (r.problem) problems.push(r.problem);
    }
    return problems;
  }

  /** Every field as `[prefix + name, value]`, in table order (a link is explicit). */
  entries(prefix = '') {
    return this.props.map((p) => [prefix + p.name, String(this.values[p.name])]);
  }
}

/**
 * The host's URL hash as key/value pairs, or `null` when it is something else (a section
 * anchor such as `#results`): then a lab never writes to it, so the host's own links keep
 * working.
 * @param {string} hash
 * @returns {URLSearchParams | null}
 */
export function hashParams(hash) {
  const body = String(hash || '').replace(/^#/, '');
  if (body === '') return new URLSearchParams();
  if (!body.split('&').every((part) => part.includes('='))) return null;
  return new URLSearchParams(body);
}

/**
 * The hash with `entries` replacing every key under `prefix` that the table knows, the host's
 * other keys kept in their order.
 * @param {URLSearchParams} params
 * @param {[string, string][]} entries
 */
export function mergeHash(params, entries) {
  const ours = new Set(entries.map(([k]) => k));
  const out = new URLSearchParams();
  for (const [k, v] of params) if (!ours.has(k)) out.append(k, v);
  for (const [k, v] of entries) out.append(k, v);
  return '#' + out.toString();
}
