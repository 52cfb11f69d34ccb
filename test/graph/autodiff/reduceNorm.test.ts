import { test } from 'node:test';
import type { Sym } from '../../../src/graph/builder.js';
import * as op from '../../../src/graph/ops.js';
import { Tensor } from '../../../src/core/tensor.js';
import { checkGradients, rand, uniform } from './fd.js';

const sq = (y: Sym): Sym => op.mul(y, y);

test('ReduceSum / ReduceMean gradients, keepdims or not, static and symbolic dims', async () => {
  for (const reduce of [op.reduceSum, op.reduceMean]) {
    for (const keep of [false, true]) {
      for (const axes of [[1], [0, 2], [-1]]) {
        await checkGradients({ build: (g) => sq(reduce(g.input('x', 'float32', ['B', 'T', 3]), axes, keep)), feeds: { x: rand([2, 3, 3], 1) }, wrt: ['x'] });
      }
    }
  }
});

test('ReduceMax gradient routes to the maximum (well separated values)', async () => {
  // A permutation of distinct values 0.2 apart: no step of the finite difference changes the argmax.
  const order = Array.from(uniform(24, 2), (u, i) => [u, i] as const).sort((a, b) => a[0] - b[0]);
  const x = new Float32Array(24);
  order.forEach(([, i], rank) => (x[i] = rank * 0.2 - 2.3));
  for (const keep of [false, true]) {
    await checkGradients({ build: (g) => sq(op.reduceMax(g.input('x', 'float32', ['B', 4, 3]), [1], keep)), feeds: { x: Tensor.float32(x, [2, 4, 3]) }, wrt: ['x'] });
  }
});

test('Softmax / LogSoftmax gradients along inner and outer axes', async () => {
  for (const f of [op.softmax, op.logSoftmax]) {
    for (const axis of [-1, 1]) {
      await checkGradients({ build: (g) => sq(f(g.input('x', 'float32', ['B', 4, 3]), axis)), feeds: { x: rand([2, 4, 3], 3, -2, 2) }, wrt: ['x'] });
    }
  }
});

test('LayerNormalization gradient for input, weight and bias (symbolic batch)', async () => {
  await checkGradients({
    build: (g) => sq(op.layerNormalization(g.input('x', 'float32', ['B', 'T', 6]), g.input('w', 'float32', [6]), g.input('b', 'float32', [6]), 1e-6)),
    feeds: { x: rand([2, 3, 6], 4, -2, 2), w: rand([6], 5, 0.5, 1.5), b: rand([6], 6) },
    wrt: ['x', 'w', 'b'],
  });
});
