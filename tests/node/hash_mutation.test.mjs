// The page's URL-hash parser under seeded mutation: `State.fromHash` (web/state.js), which the
// page calls on every load and `hashchange`, must take any string without throwing and give a
// state that keeps the table's promises — every field of its kind and in its range, a bad value
// replaced by the default, an out-of-range number by the nearest bound — and that a link
// reproduces: `fromHash(state.toHash())` is the same state, and the hash it writes is bounded
// by the one it read.
//
// Inputs per run: STEERSCOPE_MUTATIONS (default 10,000; the README's long run uses 100,000).
//
//   node --test tests/node/hash_mutation.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import { PROPS, State } from '../../web/state.js';

const COUNT = Number(process.env.STEERSCOPE_MUTATIONS || 10_000);

/** mulberry32: a small seeded generator, so a failing input can be rebuilt from its index. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n) => Math.floor(next() * n);
  return { next, below, pick: (xs) => xs[below(xs.length)] };
}

const VALUES = [
  '', ' ', '0', '-0', '+1', '1.5', '-1.5', '15', '1e3', '1e309', '-1e309', 'NaN', 'Infinity', '-Infinity',
  '0x10', '0b11', '1_000', ' 12 ', '12abc', '9'.repeat(400), '-10', '10.0000001', '-10.0000001', '1023', '1024',
  '512', '513', 'null', 'undefined', 'true', '[]', '{}', '%', '%zz', '%E0%A4%A', '%00', '%2B', '+', '&', '=', '#',
  '?', '\uD800', '\uDFFF', '😀', '日本語', '\u0000', '\u202e', '<script>', 'a'.repeat(5000),
];
const KEYS = [...PROPS.map((p) => p.name), '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'LAYER',
  'layer ', ' layer', 'x', ''];

/** A hash built from parts: known and unknown keys, repeated keys, values that break parsers. */
function structured(r) {
  const parts = [];
  for (let i = 0, n = r.below(12); i < n; i++) {
    const key = r.pick(KEYS);
    const value = r.below(4) === 0 ? String(r.next() * 40 - 20) : r.pick(VALUES);
    const enc = r.below(2) === 0 ? encodeURIComponent : (s) => s;
    let v;
    try { v = enc(value); } catch { v = value; } // a lone surrogate cannot be URI-encoded
    parts.push(r.below(10) === 0 ? key : `${enc === encodeURIComponent ? encodeURIComponent(key) : key}=${v}`);
  }
  return (r.below(4) === 0 ? '' : '#') + parts.join(r.below(10) === 0 ? ';' : '&');
}

/** A valid hash with characters replaced, inserted, deleted or repeated. */
function mutated(r) {
  const base = new State();
  for (const p of PROPS) {
    if (r.below(3) === 0) base[p.name] = p.kind === 'string' ? r.pick(VALUES) : p.def;
  }
  let s = base.toHash();
  for (let i = 0, n = 1 + r.below(6); i < n; i++) {
    const at = r.below(s.length + 1);
    const ch = r.pick(['&', '=', '%', '#', '+', '\uD800', '\u0000', String.fromCharCode(r.below(0x3000)), 'x']);
    switch (r.below(5)) {
      case 0: s = s.slice(0, at) + ch + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + ch + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(at + 1 + r.below(20)); break;
      case 3: s = s.slice(0, at) + s.slice(at, at + 1 + r.below(40)).repeat(1 + r.below(50)) + s.slice(at); break;
      default: s = s.slice(0, at);
    }
  }
  return s;
}

/** What the table promises a field read from `raw` (the first value given for it, or null). */
function expected(p, raw) {
  if (raw === null) return p.def;
  if (p.kind === 'string') return raw;
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n)) return p.def;
  const v = p.kind === 'int' ? Math.round(n) : n;
  return Math.min(p.max, Math.max(p.min, v)) + 0;
}

function check(hash) {
  const s = State.fromHash(hash);
  const params = new URLSearchParams(String(hash).replace(/^#/, ''));
  for (const p of PROPS) {
    const v = s[p.name];
    if (p.kind === 'string') {
      assert.equal(typeof v, 'string', p.name);
    } else {
      assert.ok(Number.isFinite(v) && v >= p.min && v <= p.max && !Object.is(v, -0), `${p.name} = ${v}`);
      if (p.kind === 'int') assert.ok(Number.isInteger(v), `${p.name} = ${v}`);
    }
    assert.ok(Object.is(v, expected(p, params.get(p.name))), `${p.name}: ${v} for ${params.get(p.name)}`);
  }
  const link = s.toHash();
  const back = State.fromHash(link);
  for (const p of PROPS) assert.ok(Object.is(back[p.name], s[p.name]), `${p.name} does not survive its link`);
  assert.equal(back.toHash(), link);
  assert.ok(link.length <= 9 * String(hash).length + new State().toHash().length, 'the link outgrew its input');
  assert.deepEqual(Object.keys(s).sort(), PROPS.map((p) => p.name).sort(), 'fields other than the table');
}

test(`the URL-hash parser takes ${COUNT} mutated hashes`, { timeout: 10 * 60_000 }, () => {
  const started = Date.now();
  const failures = [];
  let changed = 0;
  for (let i = 0; i < COUNT; i++) {
    const r = rng(2026 * 1_000_003 + i);
    const hash = r.below(2) === 0 ? structured(r) : mutated(r);
    try {
      check(hash);
      if (State.fromHash(hash).toHash() !== new State().toHash()) changed++;
    } catch (e) {
      failures.push(`input ${i} ${JSON.stringify(hash.slice(0, 200))}: ${e.message}`);
      if (failures.length >= 10) break;
    }
  }
  console.log(`${COUNT} hashes in ${((Date.now() - started) / 1000).toFixed(1)} s; ${changed} set some field away from its default`);
  assert.deepEqual(failures, []);
  assert.ok(changed > COUNT / 4, 'the mutations should reach the fields');
});

// The oracle above can fail: a parser that ignored clamping, or kept a bad number, is caught.
test('the checks catch a parser that breaks the table', () => {
  const good = State.fromHash;
  try {
    State.fromHash = (h) => Object.assign(good(h), { layer: 5000 });
    assert.throws(() => check('#layer=5000'));
    State.fromHash = (h) => Object.assign(good(h), { strength: NaN });
    assert.throws(() => check('#strength=x'));
    State.fromHash = (h) => Object.assign(good(h), { concept: 'sentiment' });
    assert.throws(() => check('#concept=pirate'));
  } finally {
    State.fromHash = good;
  }
  check('#layer=5000&strength=x&concept=pirate');
});
