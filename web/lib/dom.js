// DOM building without markup strings: elements, attributes and text nodes only, so nothing a
// visitor or a host supplies is ever parsed as HTML. Also: where the package's files live, and
// the few helpers both labs share.

/**
 * An element with attributes (`on*` functions become listeners, `true` an empty attribute,
 * `false`/null/undefined none) and children (strings become text nodes).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** The package's root folder (where index.html, data/, precomputed/ and models/ sit), from this
 *  module's own URL: the labs find their files wherever the package is served from. */
export const PACKAGE_ROOT = new URL('../', import.meta.url);

/** A path inside the package. @param {string} path */
export const asset = (path) => new URL(path, PACKAGE_ROOT);

/** Saves `data` as a download named `name`. @param {Blob} blob @param {string} name */
export function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

/** Hex sha256 of text or bytes ('' without WebCrypto). @param {string | Uint8Array} data */
export async function sha256(data) {
  if (!globalThis.crypto?.subtle) return '';
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data);
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The message of anything thrown. @param {unknown} e */
export const message = (e) => String((e && /** @type {any} */ (e).message) || e);

/** Whether `e` is an abort (ours, or the platform's). @param {unknown} e */
export const isAbort = (e) => !!e && /** @type {any} */ (e).name === 'AbortError';

/** A number for display ('—' when missing). @param {number | null | undefined} x @param {number} [d] */
export const fmt = (x, d = 3) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(d));

/** A strength with its sign. @param {number} s */
export const signed = (s) => (s > 0 ? `+${s}` : String(s));

/**
 * Shows each value of `values` in the control named after its key (the `name` attribute),
 * unless the visitor is typing in it (the focused element of `root`) or it shows that value
 * already — so a re-render never moves a caret or undoes a half-typed entry.
 * @param {ShadowRoot | null} root
 * @param {(HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement)[]} controls
 * @param {Record<string, unknown>} values
 */
export function showValues(root, controls, values) {
  const focused = root?.activeElement;
  for (const el of controls) {
    const v = String(values[el.name]);
    if (el !== focused && el.value !== v) el.value = v;
  }
}

/**
 * Shows the parts of an element a host asked for with `controls="…"` (every part when `raw` is
 * null) and hides the others: each part is the elements marked `data-control="<part>"`.
 * Answers the names it does not know, for the element to report.
 * @param {ParentNode} root @param {string | null} raw @param {readonly string[]} parts
 * @returns {string[]}
 */
export function showControls(root, raw, parts) {
  const shown = raw === null ? parts : raw.split(/[\s,]+/).filter(Boolean);
  for (const c of parts) for (const e of root.querySelectorAll(`[data-control="${c}"]`)) /** @type {HTMLElement} */ (e).hidden = !shown.includes(c);
  return shown.filter((c) => !parts.includes(c));
}
