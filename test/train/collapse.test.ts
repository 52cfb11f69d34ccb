import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DinoCollapseWatch, dinoCrossEntropy } from '../../src/train/ssl/collapse.js';

const losses = (dino: number) => ({ dino_local_crops: 0.8 * dino, dino_global_crops: 0.2 * dino, koleo: 0.1, ibot: 3, total: dino + 3.1 });

test('the DINO cross-entropy is the two DINO terms over their weight', () => {
  assert.equal(dinoCrossEntropy(losses(5), 1), 5);
  assert.equal(dinoCrossEntropy({ ...losses(5), dino_local_crops: 4, dino_global_crops: 1 }, 0.5), 10);
});

test('collapse: warns once after `window` iterations at ln K past the start, and says what to try', () => {
  const K = 4096;
  const lnK = Math.log(K);
  const watch = new DinoCollapseWatch({ prototypes: K, window: 5, after: 10 });
  // At ln K during the start: no warning (a fresh head is near uniform too).
  for (let i = 0; i <= 10; i++) assert.equal(watch.push(i, losses(lnK)), null);
  for (let i = 11; i < 15; i++) assert.equal(watch.push(i, losses(lnK * (1 + 1e-4))), null);
  const w = watch.push(15, losses(lnK));
  assert.ok(w && /ln K = 8\.3178/.test(w) && /--prototypes/.test(w) && /--centering sinkhorn_knopp_stable/.test(w), String(w));
  assert.equal(watch.push(16, losses(lnK)), null, 'warned twice');
});

test('collapse: a learning run (below ln K) or a streak broken before the window never warns', () => {
  const lnK = Math.log(256);
  const learning = new DinoCollapseWatch({ prototypes: 256, window: 5, after: 0 });
  for (let i = 1; i < 100; i++) assert.equal(learning.push(i, losses(lnK - 0.5)), null);
  const broken = new DinoCollapseWatch({ prototypes: 256, window: 5, after: 0 });
  for (let i = 1; i < 100; i++) assert.equal(broken.push(i, losses(i % 4 === 0 ? lnK - 0.1 : lnK)), null);
});
