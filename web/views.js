// Rendering only: each function takes data and draws it inside the demo's root element. No
// compute, no state, no worker here — main.js decides what to show and when.
import uPlot from './vendor/uPlot.esm.js';

const fmt = (x, d = 3) => (x == null || !Number.isFinite(x) ? '—' : x.toFixed(d));
const signed = (s) => (s > 0 ? `+${s}` : String(s));
const MB = (n) => (n / 1e6).toFixed(1);

export function createViews(root) {
  const $ = (sel) => root.querySelector(sel);
  const plotBox = $('#plot');
  let marker = 0; // the slider's strength, drawn as a dashed vertical line
  let known = []; // method names the wasm core offers

  // Preference and utility log-odds against strength; points arrive one at a time.
  const plot = new uPlot({
    width: Math.max(300, plotBox.clientWidth || 560),
    height: 260,
    scales: { x: { time: false, range: [-10.5, 10.5] } },
    axes: [{ label: 'strength (10: Δh = ½ mean residual norm)' }, { label: 'log-odds' }],
    series: [
      { label: 'strength' },
      { label: 'preference', stroke: '#1f6fd1', width: 2, points: { size: 7 } },
      { label: 'utility', stroke: '#d1691f', width: 2, dash: [6, 4], points: { size: 7 } },
      { label: 'random direction (pref)', stroke: '#999', width: 1, dash: [2, 3], points: { size: 4 } },
      { label: 'prompting (pref)', stroke: '#2a9d4b', width: 1, dash: [8, 4], points: { show: false } },
    ],
    hooks: {
      draw: [(u) => {
        const x = u.valToPos(marker, 'x', true);
        const { ctx, bbox } = u;
        ctx.save();
        ctx.strokeStyle = '#888';
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        ctx.moveTo(x, bbox.top);
        ctx.lineTo(x, bbox.top + bbox.height);
        ctx.stroke();
        ctx.restore();
      }],
    },
  }, [[], [], [], [], []], plotBox);
  new ResizeObserver(() => {
    const w = plotBox.clientWidth;
    if (w > 0 && w !== plot.width) plot.setSize({ width: w, height: 260 });
  }).observe(plotBox);

  const views = {
    /** `points`: score results ({strength, pref_odds, util_odds, ...}) in any order;
     *  `baselines`: {random: Map strength -> result, prompting: result | null}. */
    points(points, baselines = { random: new Map(), prompting: null }) {
      const pts = [...points].sort((a, b) => a.strength - b.strength);
      const at = new Map(pts.map((p) => [p.strength, p]));
      const xs = [...new Set([...at.keys(), ...baselines.random.keys()])].sort((a, b) => a - b);
      const val = (p, k) => (p && Number.isFinite(p[k]) ? p[k] : null);
      // The random direction's unsteered point is the method's own.
      const random = (x) => baselines.random.get(x) || (x === 0 ? at.get(0) : null);
      const prompted = val(baselines.prompting, 'pref_odds');
      plot.setData([
        xs,
        xs.map((x) => val(at.get(x), 'pref_odds')),
        xs.map((x) => val(at.get(x), 'util_odds')),
        xs.map((x) => val(random(x), 'pref_odds')),
        xs.map(() => prompted),
      ]);
      const box = $('#baselines');
      box.dataset.random = JSON.stringify([...baselines.random.values()].map((p) => ({ strength: p.strength, pref: p.pref_odds })));
      box.dataset.promptingPref = prompted == null ? '' : String(prompted);
      const p = baselines.prompting;
      box.textContent = p
        ? `prompting baseline (no steering, system prompt "${p.instruction}"): preference ${fmt(p.pref_odds)}, utility ${fmt(p.util_odds)}`
        : '';
      // The same numbers as a table: readable without the canvas, and what the browser test reads.
      const body = $('#points tbody');
      body.replaceChildren(...pts.map((p) => {
        const tr = document.createElement('tr');
        tr.dataset.strength = String(p.strength);
        tr.dataset.pref = String(p.pref_odds);
        tr.dataset.util = p.util_odds == null ? '' : String(p.util_odds);
        tr.dataset.offManifold = p.off_manifold == null ? '' : String(p.off_manifold);
        for (const t of [signed(p.strength), fmt(p.pref_odds), fmt(p.util_odds), fmt(p.off_manifold, 2)]) {
          const td = document.createElement('td');
          td.textContent = t;
          tr.append(td);
        }
        return tr;
      }));
    },

    /** The core's summary of the points so far: curve fits (R², degenerate flags) and the rank
     *  correlation of leaving the manifold with losing utility; `null` clears it. */
    summary(s) {
      const box = $('#curves');
      if (!s) {
        box.textContent = '';
        return;
      }
      const fit = (name, f, r2) => {
        if (f && f.Err !== undefined) return `${name}: no fit (${f.Err})`;
        const ok = f && f.Ok;
        const flag = ok && ok.degenerate ? ` — degenerate: ${ok.degenerate}` : '';
        return `${name} R² ${fmt(r2)}${flag}`;
      };
      const c = s.curves || {};
      const parts = [
        fit('preference curve', c.preference, c.preference_r2 && c.preference_r2[1]),
        fit('utility curve', c.utility, c.utility_r2 && c.utility_r2[1]),
        `ρ(off-manifold, utility drop) ${fmt(s.manifold_vs_utility_drop, 2)}`,
        `off-manifold reference: ${s.manifold_rank} directions`,
      ];
      box.textContent = `curve model (paper's rational-quadratic, fitted on these points): ${parts.join(' · ')}`;
      box.dataset.applied = String(s.applied);
    },

    strength(s) {
      marker = s;
      $('#strength-value').textContent = signed(s);
      plot.redraw(false);
      views.markStale();
    },

    layer(l, nLayers) {
      $('#layer-value').textContent = nLayers ? `${l} / ${nLayers - 1}` : String(l);
    },

    /** Start a fresh generation in the `base` or `steered` pane. */
    textStart(which, strength) {
      const el = $(`#${which}`);
      el.textContent = '';
      el.dataset.done = 'false';
      el.dataset.strength = String(strength);
      $(`#${which}-label`).textContent = which === 'base' ? 'base (strength 0)' : `steered (strength ${signed(strength)})`;
      views.markStale();
    },
    textAppend(which, piece) {
      $(`#${which}`).append(piece);
    },
    textDone(which, text, strength) {
      const el = $(`#${which}`);
      el.textContent = text;
      el.dataset.done = 'true';
      el.dataset.strength = String(strength);
      views.markStale();
    },
    /** Dim the steered pane while it shows another strength than the slider's. */
    markStale() {
      const el = $('#steered');
      el.classList.toggle('stale', el.dataset.strength !== String(marker));
    },

    /** `total` 0 means unknown: an indeterminate bar. */
    progress(label, done, total) {
      const bar = $('#progress');
      if (total > 0) {
        bar.max = total;
        bar.value = Math.min(done, total);
      } else bar.removeAttribute('value');
      const frac = total > 0 && total > 1e6 ? ` ${MB(done)} / ${MB(total)} MB` : total > 0 ? ` ${done} / ${total}` : '';
      $('#progress-label').textContent = label + frac;
      $('#progress-box').hidden = false;
    },
    progressDone() {
      $('#progress-box').hidden = true;
    },

    status(text) {
      $('#status').textContent = text;
    },

    modelInfo(info, cached) {
      const i = info || {};
      $('#model-info').textContent = `${i.architecture} · ${i.n_layers} layers · width ${i.hidden_size}` +
        ` · vocab ${i.vocab_size} · context ${i.context_length}${cached ? ' · from cache' : ''}`;
    },

    fitInfo(r) {
      $('#fit-info').textContent = `${r.method} at layer ${r.layer} (${r.site}): mean |Δh| ${fmt(r.effect_norm, 2)}` +
        ` as found, rescaled so 10 = half the mean residual norm ${fmt(r.mean_hidden_norm, 2)}`;
    },

    /** The method list (from the worker, once known); a method named in a link stays listed. */
    methods(selected, list) {
      if (list) known = list;
      const names = known.includes(selected) ? known : [...known, selected];
      $('#method').replaceChildren(...names.map((n) => new Option(n, n, false, n === selected)));
    },

    /** `list`: [{name, description?}]; the description shows under the controls. */
    concepts(list, selected) {
      $('#concept').replaceChildren(...list.map((c) => {
        const o = new Option(c.name, c.name, false, c.name === selected);
        o.title = c.description || '';
        return o;
      }));
      views.conceptInfo();
    },
    conceptInfo() {
      const o = $('#concept').selectedOptions[0];
      $('#concept-info').textContent = o ? o.title : '';
    },

    /** Errors stay on screen (never only in the console) until dismissed. */
    error(message) {
      const box = $('#error');
      const p = document.createElement('p');
      p.textContent = message;
      $('#error-list').append(p);
      while ($('#error-list').children.length > 5) $('#error-list').firstChild.remove();
      box.hidden = false;
    },
    clearErrors() {
      $('#error-list').replaceChildren();
      $('#error').hidden = true;
    },
  };
  return views;
}
