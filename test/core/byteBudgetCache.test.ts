import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudgetCache } from '../../src/core/byteBudgetCache.js';

test('ByteBudgetCache keeps the first values until the budget is spent, then keeps them', () => {
  const c = new ByteBudgetCache<string>(10, 'test cache');
  c.offer('a', 'A', 4);
  c.offer('b', 'B', 4);
  assert.equal(c.full, false);
  c.offer('c', 'C', 4); // 12 > 10: refused, nothing evicted
  assert.deepEqual([c.get('a'), c.get('b'), c.get('c')], ['A', 'B', undefined]);
  c.offer('d', 'D', 2); // exactly fills the budget
  assert.equal(c.get('d'), 'D');
  assert.equal(c.full, true);
  c.offer('a', 'other', 0); // a key is never replaced
  assert.equal(c.get('a'), 'A');
  assert.equal(c.size, 3);
});

test('ByteBudgetCache: a zero budget keeps nothing; a negative or NaN one is refused with the cache named', () => {
  const c = new ByteBudgetCache<number>(0);
  c.offer('x', 1, 1);
  assert.equal(c.get('x'), undefined);
  assert.equal(c.full, true);
  assert.throws(() => new ByteBudgetCache(-1, 'decoded-image cache'), /decoded-image cache: the byte budget must be ≥ 0, got -1/);
  assert.throws(() => new ByteBudgetCache(Number.NaN), /got NaN/);
});
