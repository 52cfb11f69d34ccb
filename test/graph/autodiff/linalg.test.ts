import { test } from 'node:test';
import type { Sym } from '../../../src/graph/builder.js';
import { gemm } from '../../../src/graph/gradRules/emit.js';
import * as nn from '../../../src/graph/nn.js';
import * as op from '../../../src/graph/ops.js';
import { checkGradients, rand } from './fd.js';

const sq = (y: Sym): Sym => op.mul(y, y);

test('MatMul gradient: 2-D, batched, broadcast batch, 2-D weight under a symbolic batch, 2-D @ 3-D', async () => {
  const cases: Array<[string, (string | number)[], (string | number)[], number[], number[]]> = [
    ['2-D', [3, 4], [4, 2], [3, 4], [4, 2]],
    ['batched', [2, 3, 4], [2, 4, 5], [2, 3, 4], [2, 4, 5]],
    ['broadcast batch', [2, 1, 3, 4], [3, 4, 2], [2, 1, 3, 4], [3, 4, 2]],
    ['symbolic batch, 2-D weight', ['B', 'T', 4], [4, 3], [2, 3, 4], [4, 3]],
    ['2-D @ 3-D', [3, 4], ['B', 4, 2], [3, 4], [2, 4, 2]],
  ];
  for (const [, as, bs, av, bv] of cases) {
    await checkGradients({
      build: (g) => op.matmul(g.input('a', 'float32', as), g.input('b', 'float32', bs)),
      feeds: { a: rand(av, 1), b: rand(bv, 2) },
      wrt: ['a', 'b'],
    });
  }
});

test('Gemm (transB, bias: a Linear layer) gradient, and nn.linear on a 3-D input', async () => {
  await checkGradients({
    build: (g) => sq(op.gemmTransB(g.input('x', 'float32', ['B', 4]), g.input('w', 'float32', [3, 4]), g.input('b', 'float32', [3]))),
    feeds: { x: rand([5, 4], 3), w: rand([3, 4], 4), b: rand([3], 5) },
    wrt: ['x', 'w', 'b'],
  });
  await checkGradients({
    build: (g) => sq(nn.linear(g.input('x', 'float32', ['B', 'T', 4]), g.input('w', 'float32', [3, 4]), g.input('b', 'float32', [3]))),
    feeds: { x: rand([2, 3, 4], 6), w: rand([3, 4], 7), b: rand([3], 8) },
    wrt: ['x', 'w', 'b'],
  });
});

test('Gemm gradient for every transposition, with alpha, beta and a broadcast bias', async () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      await checkGradients({
        build: (g) =>
          gemm(
            g.input('a', 'float32', transA ? [4, 3] : [3, 4]),
            g.input('b', 'float32', transB ? [2, 4] : [4, 2]),
            g.input('c', 'float32', [1, 2]),
            { transA, transB, alpha: 0.7, beta: -1.3 },
          ),
        feeds: { a: rand(transA ? [4, 3] : [3, 4], 9), b: rand(transB ? [2, 4] : [4, 2], 10), c: rand([1, 2], 11) },
        wrt: ['a', 'b', 'c'],
      });
    }
  }
});

test('Conv gradient: patch embedding (stride = kernel, no padding) with a symbolic batch and size', async () => {
  await checkGradients({
    build: (g) => sq(op.conv2d(g.input('x', 'float32', ['B', 2, 'H', 'W']), g.input('w', 'float32', [3, 2, 2, 2]), g.input('b', 'float32', [3]), 2, 0)),
    feeds: { x: rand([2, 2, 4, 6], 12), w: rand([3, 2, 2, 2], 13), b: rand([3], 14) },
    wrt: ['x', 'w', 'b'],
  });
});

test('Conv gradient: stride with a remainder (rows the kernel never reaches) and padding', async () => {
  await checkGradients({
    build: (g) => sq(op.conv2d(g.input('x', 'float32', [1, 2, 7, 5]), g.input('w', 'float32', [2, 2, 3, 3]), null, 2, 1)),
    feeds: { x: rand([1, 2, 7, 5], 15), w: rand([2, 2, 3, 3], 16) },
    wrt: ['x', 'w'],
  });
  await checkGradients({
    build: (g) => sq(op.conv2d(g.input('x', 'float32', ['B', 1, 'H', 'W']), g.input('w', 'float32', [2, 1, 2, 2]), null, 2, 0)),
    feeds: { x: rand([2, 1, 5, 7], 17), w: rand([2, 1, 2, 2], 18) },
    wrt: ['x', 'w'],
  });
});
