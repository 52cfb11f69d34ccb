import { test } from 'node:test';
import assert from 'node:assert/strict';
import { koleoLoss } from '../../../src/train/loss/koleoLoss.js';
import { Tensor } from '../../../src/core/tensor.js';
import { checkGradients, rand } from '../../graph/autodiff/fd.js';
import * as ref from './reference.js';
import { close, runGraph } from './lossGraph.js';

test('KoLeo matches a brute-force float64 nearest-neighbour reference (symbolic batch)', async () => {
  for (const [n, D] of [[2, 3], [7, 5], [16, 12]] as const) {
    const x = rand([n, D], n * D, -2, 2);
    const out = await runGraph((g) => ({ loss: koleoLoss(g.input('x', 'float32', ['n', D])) }), { x });
    const expected = ref.koleo(ref.toMat(x.data, n, D));
    assert.ok(close(out['loss']!, [expected], 1e-5), `n=${n}: ${out['loss']![0]} vs ${expected}`);
  }
});

test('a vector is never its own neighbour, even when it is the closest (diagonal filled with -1)', async () => {
  // Two identical rows: each is the other's neighbour at distance ~0, the log of eps-sized distances.
  const x = Tensor.float32([1, 0, 1, 0, 0, 1], [3, 2]);
  const out = await runGraph((g) => ({ loss: koleoLoss(g.input('x', 'float32', [3, 2])) }), { x });
  const expected = ref.koleo(ref.toMat(x.data, 3, 2));
  assert.ok(close(out['loss']!, [expected], 1e-4), `${out['loss']![0]} vs ${expected}`);
  assert.ok(out['loss']![0]! > 10);
});

test('the KoLeo gradient (through the normalisation and both ends of each distance) matches finite differences', async () => {
  // Random points whose nearest neighbours are well separated: no step of the finite difference changes
  // an argmax (if one did, the difference quotient would jump and the check would fail).
  const x = rand([6, 4], 11, -2, 2);
  await checkGradients({ build: (g) => koleoLoss(g.input('x', 'float32', ['n', 4])), feeds: { x }, wrt: ['x'] });
});
