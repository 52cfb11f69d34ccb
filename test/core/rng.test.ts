import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng.js';

// Reference values printed by CPython 3.11's `random` module for the same seeds and calls.

test('rng: random() stream equals Python random.seed(0)', () => {
  const r = new Rng(0);
  assert.deepEqual([r.next(), r.next(), r.next()], [0.8444218515250481, 0.7579544029403025, 0.420571580830845]);
});

test('rng: multi-word and negative seeds, getrandbits', () => {
  const r = new Rng(12345678901234567890n);
  assert.equal(r.next(), 0.5120180983871961);
  assert.equal(r.getrandbits(40), 601002850653);
  assert.equal(r.getrandbits(7), 82);
  assert.equal(new Rng(-3).next(), 0.23796462709189137);
});

test('rng: shuffle, randint, randrange and uniform equal Python random.seed(42)', () => {
  const r = new Rng(42);
  assert.deepEqual(r.shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), [7, 3, 2, 8, 5, 6, 9, 4, 0, 1]);
  assert.equal(r.randint(0, 12), 9);
  assert.equal(r.int(5, 1000003), 442422);
  assert.equal(r.uniform(4, 2), 3.936434641036433);
});

test('rng: normal() equals Python random.gauss(0, 1) up to libm rounding', () => {
  const r = new Rng(7);
  const want = [-0.2558802884476004, 0.511431512516514, -0.2260961647831047];
  for (const w of want) {
    const g = r.normal();
    assert.ok(Math.abs(g - w) <= 4e-16 * Math.max(1, Math.abs(w)), `${g} vs ${w}`);
  }
});

test('rng: deterministic for a seed, different across seeds', () => {
  const a = new Rng(123);
  const b = new Rng(123);
  const c = new Rng(124);
  const sa = Array.from({ length: 50 }, () => a.nextUint32());
  const sb = Array.from({ length: 50 }, () => b.nextUint32());
  const sc = Array.from({ length: 50 }, () => c.nextUint32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
});

test('rng: ranges and rough uniformity', () => {
  const r = new Rng(5);
  const hist = new Array<number>(7).fill(0);
  let sum = 0;
  let sumSq = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    const k = r.int(-3, 4);
    assert.ok(Number.isInteger(k) && k >= -3 && k < 4);
    hist[k + 3]!++;
    const u = r.uniform(2, 5);
    assert.ok(u >= 2 && u <= 5);
    const g = r.normal();
    sum += g;
    sumSq += g * g;
  }
  for (const h of hist) assert.ok(Math.abs(h - n / 7) < 0.1 * (n / 7), `histogram ${hist}`);
  assert.ok(Math.abs(sum / n) < 0.05);
  assert.ok(Math.abs(sumSq / n - 1) < 0.05);
  assert.throws(() => r.int(3, 3));
  assert.throws(() => new Rng(0.5));
});

test('rng: shuffle is a permutation', () => {
  const r = new Rng(9);
  const xs = Array.from({ length: 100 }, (_, i) => i);
  const s = r.shuffle([...xs]);
  assert.notDeepEqual(s, xs);
  assert.deepEqual([...s].sort((p, q) => p - q), xs);
});
