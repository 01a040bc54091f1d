// Where the vector acts: the prompt and a completion, token by token — which positions the
// method read its signal from (underlined), which the intervention steers (tinted, per the
// mask), and for each completion token how much more (red) or less (blue) likely the steering
// makes it — with the mask controls and the steered score (Σ Δ log p over the completion).
//
// Data contract (`Session.token_effects(prompt, completion, strength, mask, max_tokens)`):
//   { name, reads, mask: 'all' | 'prompt' | 'completion' | 'from:N', strength,
//     ids: number[], pieces: string[], prompt_len: number,
//     read: boolean[] | null, steered: boolean[],
//     base_logprobs: number[], steered_logprobs: number[],      // one per completion token
//     total_change: number }
// Options: { max_change: 2 (|Δ log p| at full colour) }.
// Events: 'mask' {detail: {mask}} when the mask controls change (a token click picks
//   `from:<its position>`).
// DOM for tests: each token is <span class="tok"> with data-pos, data-read, data-steered and,
//   in the completion, data-delta; the score is [data-field=total] (data-value).
import { diverging, el, emit, fmt, readout, signed } from './common.js';

const MASKS = ['all', 'prompt', 'completion', 'from'];

/**
 * The data contract above, the options, and the event's detail.
 * @typedef {{ name: string, reads: string, mask: string, strength: number, ids: number[], pieces: string[],
 *   prompt_len: number, read: boolean[] | null, steered: boolean[], base_logprobs: number[],
 *   steered_logprobs: number[], total_change: number }} TokenEffects
 * @typedef {{ max_change: number }} TokensOptions
 * @typedef {{ mask: string }} MaskDetail
 */

export class TokensView {
  /** @param {HTMLElement} container @param {Partial<TokensOptions>} [options] */
  constructor(container, options = {}) {
    this.container = container;
    /** @type {TokensOptions} */
    this.options = { max_change: 2, ...options };
    this.root = el('div', { class: 'ss-view ss-tokens' });
    container.append(this.root);
  }

  /** @param {TokenEffects} data @param {Partial<TokensOptions>} [options] */
  update(data, options = {}) {
    Object.assign(this.options, options);
    this.data = data;
    const d = data;
    const [kind, from] = d.mask.startsWith('from:') ? ['from', d.mask.slice(5)] : [d.mask, String(d.prompt_len)];
    const radios = MASKS.map((m) => el('label', {},
      el('input', { type: 'radio', name: `mask-${this.uid()}`, value: m, checked: m === kind,
        on: { change: () => this.setMask(m === 'from' ? `from:${this.fromInput.value}` : m) } }),
      ` ${m === 'from' ? 'from position' : m}`));
    this.fromInput = el('input', { type: 'number', min: 0, max: d.ids.length, value: from, class: 'from',
      on: { change: () => this.setMask(`from:${this.fromInput.value}`) } });
    const tokens = d.pieces.map((piece, i) => this.token(d, piece, i));
    this.root.replaceChildren(
      el('h3', { text: `Where ${d.name} acts (strength ${d.strength})` }),
      el('div', { class: 'controls' }, 'steer: ', ...radios, this.fromInput),
      el('p', { class: 'legend' },
        el('span', { class: 'tok read', text: 'read' }), ` = positions the method read (${d.reads}); `,
        el('span', { class: 'tok steered', text: 'steered' }), ' = positions the mask steers; completion tokens are coloured by Δ log p ',
        '(red: the steering makes them likelier).'),
      el('div', { class: 'sequence' }, ...tokens),
      el('p', {}, 'steered score: Σ Δ log p over the completion = ',
        el('strong', { dataset: { field: 'total', value: d.total_change }, text: signed(d.total_change, 3) }),
        ` nats over ${d.base_logprobs.length} tokens (mask ${d.mask})`),
    );
    this.readout = readout(this.root, 'hover a token');
  }

  /** @param {TokenEffects} d @param {string} piece @param {number} i */
  token(d, piece, i) {
    const completion = i >= d.prompt_len;
    const t = i - d.prompt_len;
    const delta = completion ? d.steered_logprobs[t] - d.base_logprobs[t] : null;
    const read = d.read ? d.read[i] : null;
    const cls = ['tok', read ? 'read' : '', d.steered[i] ? 'steered' : '', completion ? 'completion' : 'prompt'];
    const text = completion
      ? `position ${i} ${JSON.stringify(piece)}: log p ${fmt(d.base_logprobs[t], 2)} → ${fmt(d.steered_logprobs[t], 2)} (${signed(delta, 2)})`
      : `position ${i} ${JSON.stringify(piece)} (prompt)`;
    return el('span', {
      class: cls.filter(Boolean).join(' '), title: text,
      style: completion ? `box-shadow: inset 0 -5px 0 ${diverging(delta, this.options.max_change)}` : null,
      dataset: { pos: i, read: read == null ? '' : read, steered: d.steered[i], delta: delta ?? '' },
      on: {
        // the readout exists by then: update() adds it right after the tokens
        mouseenter: () => { /** @type {HTMLDivElement} */ (this.readout).textContent = text + (d.steered[i] ? ', steered' : '') + (read ? ', read' : ''); },
        click: () => this.setMask(`from:${i}`),
      },
    }, piece.replace(/\n/g, '⏎\n'));
  }

  /** @param {string} mask */
  setMask(mask) {
    emit(this.container, 'mask', { mask });
  }

  uid() {
    if (!this._uid) this._uid = Math.random().toString(36).slice(2);
    return this._uid;
  }
}

/** @param {HTMLElement} container @param {TokenEffects} data @param {Partial<TokensOptions>} [options] */
export function render(container, data, options) {
  const v = new TokensView(container, options);
  v.update(data);
  return v;
}
