import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Sym } from '../../../src/graph/builder.js';
import * as nn from '../../../src/graph/nn.js';
import * as op from '../../../src/graph/ops.js';
import { Tensor } from '../../../src/core/tensor.js';
import { checkGradients, rand } from './fd.js';

/** y ⊙ y, so that the incoming gradient varies per element (a rule that drops or misplaces it shows). */
const sq = (y: Sym): Sym => op.mul(y, y);

test('Reshape gradient, static and with a symbolic batch (run-time shape)', async () => {
  await checkGradients({ build: (g) => sq(op.reshape(g.input('x', 'float32', [2, 6]), [3, 4])), feeds: { x: rand([2, 6], 1) }, wrt: ['x'] });
  await checkGradients({ build: (g) => sq(op.reshape(g.input('x', 'float32', ['B', 2, 3]), [0, -1])), feeds: { x: rand([3, 2, 3], 2) }, wrt: ['x'] });
});

test('Transpose gradient applies the inverse permutation', async () => {
  await checkGradients({
    build: (g) => op.mul(op.transpose(g.input('x', 'float32', ['B', 2, 3, 4]), [2, 0, 3, 1]), g.input('w', 'float32', [3, 1, 4, 2])),
    feeds: { x: rand([2, 2, 3, 4], 3), w: rand([3, 1, 4, 2], 4) },
    wrt: ['x', 'w'],
  });
});

test('Concat gradient: static sizes, symbolic sizes along the axis, and one input used twice', async () => {
  await checkGradients({
    build: (g) => {
      const a = g.input('a', 'float32', [2, 3]);
      return sq(op.concat([a, g.input('b', 'float32', [2, 1]), a], 1));
    },
    feeds: { a: rand([2, 3], 5), b: rand([2, 1], 6) },
    wrt: ['a', 'b'],
  });
  await checkGradients({
    build: (g) => sq(op.concat([g.input('a', 'float32', ['B', 'n', 2]), g.input('b', 'float32', ['B', 'm', 2])], 1)),
    feeds: { a: rand([2, 3, 2], 7), b: rand([2, 1, 2], 8) },
    wrt: ['a', 'b'],
  });
});

test('Slice gradient: positive and negative starts, to the end, on symbolic dims', async () => {
  for (const [start, end] of [[1, 3], [-2, op.TO_END], [0, 1], [2, op.TO_END]] as const) {
    await checkGradients({
      build: (g) => sq(op.slice(g.input('x', 'float32', ['B', 'T', 3]), 1, start, end)),
      feeds: { x: rand([2, 4, 3], 9) },
      wrt: ['x'],
    });
  }
  // An end past the dim is clamped, as ONNX and Python slicing do.
  for (const [start, end] of [[1, 4], [3, 100], [-4, -1]] as const) {
    await checkGradients({ build: (g) => sq(op.slice(g.input('x', 'float32', [3, 5]), -1, start, end)), feeds: { x: rand([3, 5], 10) }, wrt: ['x'] });
  }
});

test('Split gradient concatenates the parts, zeros for an unused part', async () => {
  await checkGradients({
    build: (g) => {
      const [a, , c] = op.split(g.input('x', 'float32', ['B', 7]), 1, [2, 3, 2]) as [Sym, Sym, Sym];
      return op.mul(sq(a), c);
    },
    feeds: { x: rand([2, 7], 11) },
    wrt: ['x'],
  });
});

test('Squeeze / Unsqueeze gradients', async () => {
  await checkGradients({
    build: (g) => sq(op.unsqueeze(op.squeeze(g.input('x', 'float32', ['B', 1, 3]), [1]), [0, 2])),
    feeds: { x: rand([2, 1, 3], 12) },
    wrt: ['x'],
  });
});

test('Gather gradient: scalar index (also negative), and a tensor index with repeats (scatter-add)', async () => {
  await checkGradients({ build: (g) => sq(op.gatherIndex(g.input('x', 'float32', ['B', 4, 3]), 1, 2)), feeds: { x: rand([2, 4, 3], 13) }, wrt: ['x'] });
  await checkGradients({ build: (g) => sq(op.gatherIndex(g.input('x', 'float32', [2, 4, 3]), 1, -1)), feeds: { x: rand([2, 4, 3], 14) }, wrt: ['x'] });
  await checkGradients({ build: (g) => sq(op.gatherIndex(g.input('x', 'float32', [5, 3]), 0, 0)), feeds: { x: rand([5, 3], 15) }, wrt: ['x'] });
  const idx = new Tensor('int64', BigInt64Array.from([3n, 0n, 3n, 1n, -1n, 3n]), [2, 3]);
  for (const axis of [0, 1]) {
    await checkGradients({
      build: (g) => sq(op.gather(g.input('x', 'float32', [5, 5, 2]), g.input('i', 'int64', [2, 3]), axis)),
      feeds: { x: rand([5, 5, 2], 16), i: idx },
      wrt: ['x'],
    });
  }
});

test('Expand gradient sums over the broadcast batch (expandBatch of a parameter)', async () => {
  await checkGradients({
    build: (g) => {
      const like = g.input('t', 'float32', ['B', 3, 4]);
      return op.mul(nn.expandBatch(g.input('p', 'float32', [1, 2, 4]), like), op.slice(like, 1, 0, 2));
    },
    feeds: { p: rand([1, 2, 4], 17), t: rand([3, 3, 4], 18) },
    wrt: ['p', 't'],
  });
});

test('the gradient of an input the output does not depend on is zeros of its shape', async () => {
  const r = await checkGradients({
    build: (g) => {
      g.input('unused', 'float32', ['B', 2]);
      return sq(g.input('x', 'float32', [3]));
    },
    feeds: { unused: rand([4, 2], 19), x: rand([3], 20) },
    wrt: ['unused', 'x'],
  });
  assert.deepEqual([...r.grads.get('unused')!], new Array(8).fill(0));
});
