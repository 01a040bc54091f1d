// Shared by the render modules in this folder: element builders that only ever set text as
// text (never innerHTML), number formatting, colour scales and small SVG helpers. No state, no
// worker, no URL: a view gets its data and draws it.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * What `el` and `svg` take: attributes (`true` an empty one, `false`/null/undefined none), and
 * three special keys: `dataset` (entries; null/undefined skipped), `text` (the text content) and
 * `on` (listeners by event type).
 * @typedef {string | number | boolean | null | undefined} Scalar
 * @typedef {{ [K in keyof HTMLElementEventMap]?: (e: HTMLElementEventMap[K]) => void }} Listeners
 * @typedef {{ dataset?: Record<string, Scalar>, text?: Scalar, on?: Listeners,
 *   [attr: string]: Scalar | Record<string, Scalar> | Listeners }} Attrs
 * A child: a node, or text (null/undefined skipped); `el` and `svg` also take arrays of them.
 * @typedef {Node | string | number | null | undefined} Child
 *
 * A linear scale (`scale`): a number in the domain to one in the range, with its domain.
 * @typedef {[number, number]} Span
 * @typedef {((x: number) => number) & { domain: Span }} Scale
 * A plot box in px: [left, top, right, bottom].
 * @typedef {[number, number, number, number]} Box
 */

/**
 * An HTML element with attributes, dataset entries and children (strings become text nodes).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  e.append(...children.flat().filter((c) => c != null).map((c) => (typeof c === 'object' ? c : String(c))));
  return e;
}

/**
 * An SVG element, the same way.
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {SVGElementTagNameMap[K]}
 */
export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  e.append(...children.flat().filter((c) => c != null).map((c) => (typeof c === 'object' ? c : String(c))));
  return e;
}

/** @param {HTMLElement | SVGElement} e @param {Attrs} attrs */
function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'dataset') Object.entries(/** @type {Record<string, Scalar>} */ (v)).forEach(([dk, dv]) => { if (dv != null) e.dataset[dk] = String(dv); });
    else if (k === 'text') e.textContent = String(v);
    else if (k === 'on') Object.entries(/** @type {Record<string, EventListener>} */ (v)).forEach(([ev, fn]) => e.addEventListener(ev, fn));
    else e.setAttribute(k, v === true ? '' : String(v));
  }
}

/** A number to `d` decimals, or an em dash when it is missing or not finite.
 *  @param {number | null | undefined} x @param {number} [d] */
export const fmt = (x, d = 3) => (x == null || !Number.isFinite(x) ? '—' : Number(x).toFixed(d));

/** A signed number: `+1.20`, `−0.40` (a real minus sign).
 *  @param {number | null | undefined} x @param {number} [d] */
export const signed = (x, d = 2) => (x == null || !Number.isFinite(x) ? '—'
  : (x > 0 ? '+' : x < 0 ? '−' : '') + Math.abs(x).toFixed(d));

/** A dispatched DOM event from a view's root: views tell their host what the user did.
 *  @param {EventTarget} target @param {string} type @param {unknown} detail */
export function emit(target, type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

/** A stable colour per series name (a fixed palette, then hashed hues). */
const PALETTE = ['#1f6fd1', '#d1691f', '#2a9d4b', '#9b3fb5', '#c23b3b', '#1aa3a3', '#8a6d1f', '#d14a9b'];
/** @type {Map<string, string>} */
const assigned = new Map();
/** @param {string} name */
export function colourOf(name) {
  if (!assigned.has(name)) {
    const i = assigned.size;
    assigned.set(name, i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 137) % 360} 55% 45%)`);
  }
  return /** @type {string} */ (assigned.get(name));
}

/** Diverging colour for `x` in [−max, max]: blue (negative) → white → red (positive).
 *  @param {number | null | undefined} x @param {number} max */
export function diverging(x, max) {
  if (x == null || !Number.isFinite(x) || !(max > 0)) return '#eee';
  const t = Math.max(-1, Math.min(1, x / max));
  const a = Math.abs(t);
  const [r, g, b] = t >= 0 ? [214, 64, 48] : [40, 96, 200];
  const mix = (/** @type {number} */ c) => Math.round(255 + (c - 255) * a);
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

/** A linear scale from the domain [d0, d1] to the range [r0, r1].
 *  @param {Span} domain @param {Span} range @returns {Scale} */
export function scale([d0, d1], [r0, r1]) {
  const span = d1 - d0 || 1;
  const f = (/** @type {number} */ x) => r0 + ((x - d0) / span) * (r1 - r0);
  f.domain = /** @type {Span} */ ([d0, d1]);
  return f;
}

/** [min, max] of finite values, padded by 5 % (and widened when flat).
 *  @param {(number | null | undefined)[]} values @returns {Span} */
export function extent(values) {
  const v = /** @type {number[]} */ (values.filter((x) => x != null && Number.isFinite(x)));
  if (!v.length) return [0, 1];
  let [lo, hi] = [Math.min(...v), Math.max(...v)];
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** About `n` round tick values across [lo, hi]. @param {Span} span @param {number} [n] */
export function ticks([lo, hi], n = 5) {
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0) || mag * 10;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

/**
 * Axes with ticks and labels into an SVG group: `x`, `y` scales, the plot box and labels.
 * @param {SVGGElement} g
 * @param {{ x: Scale, y: Scale, box: Box, xLabel?: string, yLabel?: string }} opts
 */
export function axes(g, { x, y, box, xLabel, yLabel }) {
  const [left, top, right, bottom] = box;
  g.append(svg('line', { x1: left, y1: bottom, x2: right, y2: bottom, class: 'axis' }));
  g.append(svg('line', { x1: left, y1: top, x2: left, y2: bottom, class: 'axis' }));
  for (const t of ticks(x.domain)) {
    g.append(svg('line', { x1: x(t), y1: bottom, x2: x(t), y2: bottom + 4, class: 'axis' }));
    g.append(svg('text', { x: x(t), y: bottom + 15, class: 'tick', 'text-anchor': 'middle', text: t }));
  }
  for (const t of ticks(y.domain)) {
    g.append(svg('line', { x1: left - 4, y1: y(t), x2: left, y2: y(t), class: 'axis' }));
    g.append(svg('text', { x: left - 6, y: y(t) + 3, class: 'tick', 'text-anchor': 'end', text: t }));
  }
  if (xLabel) g.append(svg('text', { x: (left + right) / 2, y: bottom + 30, class: 'label', 'text-anchor': 'middle', text: xLabel }));
  if (yLabel) {
    g.append(svg('text', { x: 12, y: (top + bottom) / 2, class: 'label', 'text-anchor': 'middle',
      transform: `rotate(-90 12 ${(top + bottom) / 2})`, text: yLabel }));
  }
}

/** A readout line a view updates on hover (text only). @param {HTMLElement} container @param {string} [initial] */
export function readout(container, initial = '') {
  const r = el('div', { class: 'readout', 'aria-live': 'polite', text: initial });
  container.append(r);
  return r;
}
