// A small SVG line plot: the page's preference/utility curves, drawn the same on screen and in
// an exported figure. SVG (not a canvas) so that a figure exports as a vector file with its
// numbers inside (each mark carries `data-x`/`data-y`), every element is made with
// createElementNS and textContent (nothing reaches innerHTML), colours are explicit attributes
// (a host's stylesheet cannot restyle an export), and it scales to any width through viewBox.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @typedef {{ x: number, y: number, lo?: number | null, hi?: number | null,
 *   kind?: 'live' | 'precomputed' | 'partial', title?: string }} Mark
 * @typedef {{ name: string, color: string, dash?: string, width?: number, points: Mark[],
 *   hline?: number | null, legend?: string }} Series
 * @typedef {{ series: Series[], xLabel: string, yLabel: string, marker?: number | null,
 *   xRange?: [number, number], width?: number, height?: number, title?: string }} PlotSpec
 */

/** @param {string} tag @param {Record<string, string | number>} [attrs] */
function el(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** "Nice" tick values covering [lo, hi]. @param {number} lo @param {number} hi @param {number} n */
export function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** @param {number} v */
const fmtTick = (v) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 2 : 1));

/**
 * Draws `spec` into `svg` (replacing what was there).
 * @param {SVGSVGElement} svg
 * @param {PlotSpec} spec
 */
export function renderPlot(svg, spec) {
  const W = spec.width || 560;
  const H = spec.height || 280;
  const pad = { left: 48, right: 10, top: spec.title ? 24 : 10, bottom: 58 };
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('xmlns', SVG);
  svg.setAttribute('font-family', 'system-ui, sans-serif');
  svg.setAttribute('font-size', '11');
  svg.append(el('rect', { x: 0, y: 0, width: W, height: H, fill: '#ffffff' }));
  if (spec.title) {
    const t = el('text', { x: W / 2, y: 15, 'text-anchor': 'middle', fill: '#222222', 'font-size': 12 });
    t.textContent = spec.title;
    svg.append(t);
  }

  const marks = spec.series.flatMap((s) => s.points);
  const xs = marks.map((m) => m.x);
  const ys = /** @type {number[]} */ (marks.flatMap((m) => [m.y, m.lo, m.hi]).concat(spec.series.map((s) => s.hline))
    .filter((v) => typeof v === 'number' && Number.isFinite(v)));
  const [x0, x1] = spec.xRange || [Math.min(...xs, -1), Math.max(...xs, 1)];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [-1, 1];
  if (y1 - y0 < 1e-6) { y0 -= 1; y1 += 1; }
  const span = y1 - y0;
  y0 -= 0.05 * span;
  y1 += 0.05 * span;
  /** @param {number} x */
  const px = (x) => pad.left + ((x - x0) / (x1 - x0)) * (W - pad.left - pad.right);
  /** @param {number} y */
  const py = (y) => H - pad.bottom - ((y - y0) / (y1 - y0)) * (H - pad.top - pad.bottom);

  // Axes and grid.
  const axis = el('g', { stroke: '#cccccc', 'stroke-width': 1 });
  for (const v of ticks(y0, y1)) axis.append(el('line', { x1: pad.left, x2: W - pad.right, y1: py(v), y2: py(v), stroke: '#eeeeee' }));
  axis.append(el('line', { x1: pad.left, x2: pad.left, y1: pad.top, y2: H - pad.bottom }));
  axis.append(el('line', { x1: pad.left, x2: W - pad.right, y1: H - pad.bottom, y2: H - pad.bottom }));
  svg.append(axis);
  const labels = el('g', { fill: '#444444' });
  for (const v of ticks(x0, x1)) {
    const t = el('text', { x: px(v), y: H - pad.bottom + 14, 'text-anchor': 'middle' });
    t.textContent = fmtTick(v);
    labels.append(t);
  }
  for (const v of ticks(y0, y1)) {
    const t = el('text', { x: pad.left - 5, y: py(v) + 4, 'text-anchor': 'end' });
    t.textContent = fmtTick(v);
    labels.append(t);
  }
  const xl = el('text', { x: (pad.left + W - pad.right) / 2, y: H - pad.bottom + 30, 'text-anchor': 'middle' });
  xl.textContent = spec.xLabel;
  const yl = el('text', { x: 12, y: (pad.top + H - pad.bottom) / 2, 'text-anchor': 'middle',
    transform: `rotate(-90 12 ${(pad.top + H - pad.bottom) / 2})` });
  yl.textContent = spec.yLabel;
  labels.append(xl, yl);
  svg.append(labels);

  // The slider's strength.
  if (typeof spec.marker === 'number' && spec.marker >= x0 && spec.marker <= x1) {
    svg.append(el('line', { x1: px(spec.marker), x2: px(spec.marker), y1: pad.top, y2: H - pad.bottom,
      stroke: '#888888', 'stroke-dasharray': '3 3', 'data-marker': spec.marker }));
  }

  for (const s of spec.series) {
    const g = el('g', { 'data-series': s.name });
    if (typeof s.hline === 'number' && Number.isFinite(s.hline)) {
      g.append(el('line', { x1: pad.left, x2: W - pad.right, y1: py(s.hline), y2: py(s.hline), stroke: s.color,
        'stroke-width': s.width || 1.5, 'stroke-dasharray': s.dash || '8 4', 'data-y': s.hline }));
    }
    const pts = [...s.points].filter((m) => Number.isFinite(m.y)).sort((a, b) => a.x - b.x);
    const line = pts.filter((m) => m.kind !== 'partial');
    if (line.length > 1) {
      g.append(el('polyline', { points: line.map((m) => `${px(m.x)},${py(m.y)}`).join(' '), fill: 'none',
        stroke: s.color, 'stroke-width': s.width || 2, 'stroke-dasharray': s.dash || 'none' }));
    }
    for (const m of pts) {
      if (typeof m.lo === 'number' && typeof m.hi === 'number' && Number.isFinite(m.lo) && Number.isFinite(m.hi)) {
        g.append(el('line', { x1: px(m.x), x2: px(m.x), y1: py(m.lo), y2: py(m.hi),
          stroke: s.color, 'stroke-width': 1.2, opacity: m.kind === 'partial' ? 0.5 : 0.8, 'data-ci': `${m.lo},${m.hi}` }));
      }
      const hollow = m.kind === 'precomputed' || m.kind === 'partial';
      const c = el('circle', { cx: px(m.x), cy: py(m.y), r: m.kind === 'partial' ? 3 : 3.5,
        fill: hollow ? '#ffffff' : s.color, stroke: s.color, 'stroke-width': 1.5,
        'data-x': m.x, 'data-y': m.y, 'data-kind': m.kind || 'live' });
      if (m.title) {
        const t = el('title');
        t.textContent = m.title;
        c.append(t);
      }
      g.append(c);
    }
    svg.append(g);
  }

  // Legend, under the axis label, wrapping to the plot's width.
  const legend = el('g', { fill: '#333333' });
  let lx = pad.left;
  let ly = H - 12;
  for (const s of spec.series) {
    const text = s.legend || s.name;
    const w = 26 + 6.2 * text.length;
    if (lx + w > W - pad.right && lx > pad.left) { lx = pad.left; ly += 13; }
    legend.append(el('line', { x1: lx, x2: lx + 18, y1: ly - 4, y2: ly - 4, stroke: s.color, 'stroke-width': 2,
      'stroke-dasharray': s.dash || 'none' }));
    const t = el('text', { x: lx + 22, y: ly });
    t.textContent = text;
    legend.append(t);
    lx += w;
  }
  svg.append(legend);
}

/**
 * The plot as a standalone SVG file, with the provenance (model sha256, method, layer, …) as
 * JSON in its <metadata>. @param {SVGSVGElement} svg @param {object} provenance
 */
export function svgFile(svg, provenance) {
  const copy = /** @type {SVGSVGElement} */ (svg.cloneNode(true));
  const meta = document.createElementNS(SVG, 'metadata');
  meta.setAttribute('id', 'steerscope-provenance');
  meta.textContent = JSON.stringify(provenance);
  copy.insertBefore(meta, copy.firstChild);
  const [, , w, h] = (copy.getAttribute('viewBox') || '0 0 560 280').split(' ');
  copy.setAttribute('width', w);
  copy.setAttribute('height', h);
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(copy);
}

/** The SVG rendered to a PNG at `scale`× its size. @param {string} svgText @param {number} [scale] @returns {Promise<Blob>} */
export async function pngFile(svgText, scale = 2) {
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    await new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error('the SVG could not be drawn'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = img.width * scale;
    canvas.height = img.height * scale;
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0);
    return await new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Rows as CSV (RFC 4180 quoting). @param {string[]} header @param {(string | number | null | undefined)[][]} rows */
export function csvFile(header, rows) {
  /** @param {string | number | null | undefined} v */
  const cell = (v) => {
    const s = v == null ? '' : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}
