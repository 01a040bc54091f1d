// The labs' URL-hash parser under seeded mutation (web/lib/state.js). An element that opts in
// (`url-state="prefix"`) adopts the host's hash on every load and `hashchange` through
// `hashParams` + `Fields.fromParams`, and writes it back with `mergeHash`. Any string must go
// through without throwing and give values that keep the property table's promises — every
// field of its kind and in its range; a number clamped to its bounds; a value the table refuses
// (not a number, wrong choice, too long, bad pattern, not a URL) kept at its previous value and
// reported as a problem — and a link must reproduce: reading back the hash it writes gives the
// same fields, writing it again gives the same hash, the host's own keys survive, and the hash
// it writes is bounded by the one it read. A hash that is not key=value pairs (a section anchor
// such as `#results`) is the host's: nothing is adopted from it.
//
// Inputs per run: STEERSCOPE_MUTATIONS (default 10,000; the README's long run uses 100,000).
//
//   node --test tests/node/hash_mutation.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import { Fields, LAB_PROPS, STEER_PROPS, coerce, hashParams, mergeHash } from '../../web/lib/state.js';

const COUNT = Number(process.env.STEERSCOPE_MUTATIONS || 10_000);
/** Both labs, each as the page embeds it (its prefix) and with no prefix. */
const TABLES = [
  { props: STEER_PROPS, prefix: '' },
  { props: STEER_PROPS, prefix: 's.' },
  { props: LAB_PROPS, prefix: '' },
  { props: LAB_PROPS, prefix: 'a.' },
];

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
  '?', '\uD800', '\uDFFF', '😀', '日本語', '\u0000', '\u202e', '<script>', '<img src=x onerror=alert(1)>',
  'a'.repeat(5000), 'javascript:alert(1)', 'https://evil.example/m.gguf', 'models/model.gguf', 'residual',
  'mlp_mid', 'raw', 'chat', 'composition', 'from:3', 'F*3', 'pca', 'formality',
];

/** A hash built from parts: known and unknown keys, repeated keys, values that break parsers. */
function structured(r, { props, prefix }) {
  const keys = [...props.map((p) => prefix + p.name), ...props.map((p) => p.name), '__proto__', 'constructor',
    'toString', 'hasOwnProperty', prefix + 'LAYER', prefix + 'layer ', ' layer', 'x', '', 'results'];
  const parts = [];
  for (let i = 0, n = r.below(12); i < n; i++) {
    const key = r.pick(keys);
    const value = r.below(4) === 0 ? String(r.next() * 40 - 20) : r.pick(VALUES);
    const encode = r.below(2) === 0;
    let v;
    try { v = encode ? encodeURIComponent(value) : value; } catch { v = value; } // a lone surrogate cannot be URI-encoded
    parts.push(r.below(10) === 0 ? key : `${encode ? encodeURIComponent(key) : key}=${v}`);
  }
  return (r.below(4) === 0 ? '' : '#') + parts.join(r.below(10) === 0 ? ';' : '&');
}

/** A valid link with characters replaced, inserted, deleted or repeated. */
function mutated(r, { props, prefix }) {
  const base = new Fields(props);
  for (const p of props) if (r.below(3) === 0) base.set(p.name, r.pick(VALUES));
  let s = mergeHash(new URLSearchParams(r.below(3) === 0 ? 'host=1' : ''), base.entries(prefix));
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

/** Whether a value stands in its table row (kind, range, list, length, pattern). */
function conforms(p, v) {
  if (p.kind === 'int' || p.kind === 'number') {
    return typeof v === 'number' && Number.isFinite(v) && v >= p.min && v <= p.max && !Object.is(v, -0)
      && (p.kind === 'number' || Number.isInteger(v));
  }
  if (typeof v !== 'string') return false;
  if (p.maxLen !== undefined && v.length > p.maxLen) return false;
  if (p.kind === 'choice' && !p.choices.includes(v)) return false;
  if (p.pattern && !p.pattern.test(v)) return false;
  return true;
}

/**
 * What the table promises a field read from `raw` (the first value given for it, or null),
 * written independently of `coerce`: `[value, refused]`.
 */
function expected(p, raw) {
  if (raw === null) return [p.def, false];
  if (p.kind === 'int' || p.kind === 'number') {
    const n = raw.trim() === '' ? NaN : Number(raw);
    if (Number.isNaN(n)) return [p.def, true];
    const v = p.kind === 'int' ? Math.round(n) : n;
    return [Math.min(p.max, Math.max(p.min, v)) + 0, false];
  }
  if (p.maxLen !== undefined && raw.length > p.maxLen) return [p.def, true];
  if (p.kind === 'choice' && !p.choices.includes(raw)) return [p.def, true];
  if (p.pattern && !p.pattern.test(raw)) return [p.def, true];
  if (p.kind === 'url' && raw !== '') {
    // http(s), blob, or a relative path (./, ../, /, or a name); no other scheme.
    const scheme = raw.match(/^([a-z][a-z0-9+.-]*):/i);
    const ok = scheme ? ['http', 'https', 'blob'].includes(scheme[1].toLowerCase()) : /^(\.\.?\/|\/|[A-Za-z0-9_])/.test(raw);
    if (!ok) return [p.def, true];
  }
  return [raw, false];
}

function check(hash, table) {
  const { props, prefix } = table;
  const f = new Fields(props);
  const params = hashParams(hash);
  if (params === null) {
    // Not key=value pairs: the host's anchor. The element adopts nothing and never writes it.
    assert.ok(String(hash).replace(/^#/, '').split('&').some((part) => !part.includes('=')), 'a key=value hash taken for an anchor');
    return;
  }
  const problems = f.fromParams(params, prefix);
  let refused = 0;
  for (const p of props) {
    const v = f.get(p.name);
    assert.ok(conforms(p, v), `${p.name} = ${JSON.stringify(String(v).slice(0, 80))} breaks its row`);
    const raw = params.has(prefix + p.name) ? params.get(prefix + p.name) : null;
    const [want, bad] = expected(p, raw);
    if (bad) refused++;
    assert.ok(Object.is(v, want), `${p.name}: ${JSON.stringify(String(v).slice(0, 80))} for ${JSON.stringify(String(raw).slice(0, 80))}`);
  }
  assert.equal(problems.length, refused, `problems: ${problems.join('; ')}`);
  for (const m of problems) assert.ok(typeof m === 'string' && m.length <= 400, 'a problem message is bounded text');

  const link = mergeHash(params, f.entries(prefix));
  const back = hashParams(link);
  assert.ok(back !== null, 'the link it writes is key=value pairs');
  const g = new Fields(props);
  assert.deepEqual(g.fromParams(back, prefix), [], 'its own link raises problems');
  for (const p of props) assert.ok(Object.is(g.get(p.name), f.get(p.name)), `${p.name} does not survive its link`);
  assert.equal(mergeHash(back, g.entries(prefix)), link, 'writing the link again changes it');
  // The host's own keys (anything not ours) survive, in their order.
  const ours = new Set(props.map((p) => prefix + p.name));
  const host = (ps) => [...ps].filter(([k]) => !ours.has(k));
  assert.deepEqual(host(back), host(params), "the host's keys were changed");
  const base = mergeHash(new URLSearchParams(), new Fields(props).entries(prefix)).length;
  assert.ok(link.length <= 9 * String(hash).length + base, 'the link outgrew its input');
  assert.deepEqual(Object.keys(f.values).sort(), props.map((p) => p.name).sort(), 'fields other than the table');
}

test(`the labs' URL-hash parser takes ${COUNT} mutated hashes`, { timeout: 10 * 60_000 }, () => {
  const started = Date.now();
  const failures = [];
  let changed = 0;
  let anchors = 0;
  for (let i = 0; i < COUNT; i++) {
    const r = rng(2026 * 1_000_003 + i);
    const table = TABLES[i % TABLES.length];
    const hash = r.below(2) === 0 ? structured(r, table) : mutated(r, table);
    try {
      check(hash, table);
      const params = hashParams(hash);
      if (params === null) anchors++;
      else {
        const f = new Fields(table.props);
        f.fromParams(params, table.prefix);
        if (table.props.some((p) => !Object.is(f.get(p.name), p.def))) changed++;
      }
    } catch (e) {
      failures.push(`input ${i} (prefix ${JSON.stringify(table.prefix)}) ${JSON.stringify(hash.slice(0, 200))}: ${e.message}`);
      if (failures.length >= 10) break;
    }
  }
  console.log(`${COUNT} hashes in ${((Date.now() - started) / 1000).toFixed(1)} s; ${changed} set some field away from its default, ${anchors} read as the host's anchor`);
  assert.deepEqual(failures, []);
  assert.ok(changed > COUNT / 4, 'the mutations should reach the fields');
});

test("a section anchor is the host's and a bad value is refused with a message", () => {
  assert.equal(hashParams('#results'), null);
  assert.equal(hashParams('#s.layer=3&results'), null);
  const f = new Fields(STEER_PROPS);
  const problems = f.fromParams(hashParams('#s.layer=NaN&s.site=<b>&s.strength=1e999&s.model=javascript:alert(1)'), 's.');
  assert.equal(f.get('layer'), 15);
  assert.equal(f.get('site'), '');
  assert.equal(f.get('strength'), 10);
  assert.equal(f.get('model'), 'models/model.gguf');
  assert.equal(problems.length, 3, problems.join('; '));
  assert.ok('problem' in coerce(STEER_PROPS.find((p) => p.name === 'prompt'), 'x'.repeat(2001)));
});

// The oracle above can fail: a parser that ignored clamping, kept a bad number or accepted a
// value outside the table is caught.
test('the checks catch a parser that breaks the table', () => {
  const good = Fields.prototype.fromParams;
  try {
    Fields.prototype.fromParams = function (params, prefix) {
      const out = good.call(this, params, prefix);
      this.values.layer = 5000;
      return out;
    };
    assert.throws(() => check('#layer=5000', TABLES[0]));
    Fields.prototype.fromParams = function (params, prefix) {
      const out = good.call(this, params, prefix);
      this.values.strength = NaN;
      return out;
    };
    assert.throws(() => check('#strength=x', TABLES[0]));
    Fields.prototype.fromParams = function (params, prefix) {
      const out = good.call(this, params, prefix);
      this.values.concept = 'sentiment';
      return out;
    };
    assert.throws(() => check('#s.concept=pirate', TABLES[1]));
    Fields.prototype.fromParams = function (params, prefix) {
      good.call(this, params, prefix);
      return [];
    };
    assert.throws(() => check('#s.site=nowhere', TABLES[1]));
  } finally {
    Fields.prototype.fromParams = good;
  }
  check('#layer=5000&strength=x&concept=pirate', TABLES[0]);
  check('#s.site=nowhere&s.layer=-3', TABLES[1]);
});
