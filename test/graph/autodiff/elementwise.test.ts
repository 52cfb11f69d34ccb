import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GRAD_RULES } from '../../../src/graph/autodiff.js';
import type { GraphBuilder, Sym } from '../../../src/graph/builder.js';
import type { Shape } from '../../../src/graph/ir.js';
import * as op from '../../../src/graph/ops.js';
import { Tensor } from '../../../src/core/tensor.js';
import { awayFromZero, checkGradients, rand } from './fd.js';

type Binary = (a: Sym, b: Sym) => Sym;

/** f(a, b) for inputs declared with (possibly symbolic) shapes and fed concrete values. */
async function binaryCase(f: Binary, aShape: Shape, bShape: Shape, a: Tensor, b: Tensor): Promise<void> {
  await checkGradients({
    build: (g: GraphBuilder) => f(g.input('a', 'float32', aShape), g.input('b', 'float32', bShape)),
    feeds: { a, b },
    wrt: ['a', 'b'],
  });
}

const BINARY: Record<string, Binary> = { Add: op.add, Sub: op.sub, Mul: op.mul, Div: op.div };

// Broadcasting layouts: equal shapes, a trailing vector, a column against a row, missing leading axes,
// and symbolic dims (the batch is only known at run time; 'n' may be 1 or not).
const LAYOUTS: Array<[string, Shape, Shape, number[], number[]]> = [
  ['same shape', [3, 4], [3, 4], [3, 4], [3, 4]],
  ['row vector', [3, 4], [4], [3, 4], [4]],
  ['column × row', [3, 1], [1, 4], [3, 1], [1, 4]],
  ['rank 3 vs rank 2 with size-1 axis', [2, 3, 4], [1, 4], [2, 3, 4], [1, 4]],
  ['symbolic batch vs static', ['B', 3, 4], [3, 1], [2, 3, 4], [3, 1]],
  ['symbolic dim that is 1 at run time', ['n', 4], ['m', 4], [1, 4], [3, 4]],
  ['symbolic dims broadcast both ways', ['B', 1, 'T'], [1, 'K', 'T'], [2, 1, 3], [1, 4, 3]],
];

for (const [name, f] of Object.entries(BINARY)) {
  for (const [layout, as, bs, av, bv] of LAYOUTS) {
    test(`${name} gradient matches finite differences: ${layout}`, async () => {
      // Divisors stay away from zero so that the quotient is smooth over the finite-difference steps.
      const b = name === 'Div' ? awayFromZero(bv, 2, 0.5, 1.5) : rand(bv, 2);
      await binaryCase(f, as, bs, rand(av, 1), b);
    });
  }
}

test('Pow gradient (constant and tensor exponents) matches finite differences', async () => {
  // Base kept positive: log(a) enters the exponent's gradient.
  await checkGradients({
    build: (g) => op.pow(g.input('a', 'float32', ['B', 3]), g.scalar(3)),
    feeds: { a: rand([2, 3], 3, 0.5, 1.5) },
    wrt: ['a'],
  });
  await binaryCase(op.pow, [2, 3], [3], rand([2, 3], 4, 0.5, 1.5), rand([3], 5, -2, 2));
});

test('Max (clamp_min) gradient routes to the larger operand', async () => {
  // Operands separated by > 0.1 (larger than every step), so no tie is crossed.
  const a = rand([3, 4], 6);
  const b = Tensor.float32(Array.from(a.data, (v, i) => v + (i % 2 ? 0.3 : -0.3)), [3, 4]);
  await binaryCase(op.maximum, [3, 4], [3, 4], a, b);
  await checkGradients({
    build: (g) => op.maximum(g.input('a', 'float32', ['B', 4]), g.scalar(0.2)),
    feeds: { a: awayFromZero([3, 4], 8, 0.35, 1) },
    wrt: ['a'],
  });
});

test('Min gradient routes to the smaller operand, with broadcasting', async () => {
  const a = rand([3, 4], 21);
  const b = Tensor.float32(Array.from({ length: 4 }, (_, i) => (i % 2 ? 1.5 : -1.5)), [4]);
  await binaryCase((x, y) => x.g.node1('Min', [x, y], {}, { dtype: 'float32', shape: x.shape }), ['B', 4], [4], a, b);
});

test('Where gradient goes to the selected branch, with broadcasting', async () => {
  await checkGradients({
    build: (g) => op.where(g.input('m', 'bool', ['B', 4]), g.input('a', 'float32', ['B', 4]), g.input('b', 'float32', [4])),
    feeds: { m: new Tensor('bool', Uint8Array.from([1, 0, 0, 1, 0, 1, 1, 0]), [2, 4]), a: rand([2, 4], 9), b: rand([4], 10) },
    wrt: ['a', 'b'],
  });
});

const UNARY: Array<[string, (x: Sym) => Sym, (shape: number[], seed: number) => Tensor]> = [
  ['Erf', op.erf, (s, k) => rand(s, k, -2, 2)],
  ['Sigmoid', op.sigmoid, (s, k) => rand(s, k, -3, 3)],
  ['Relu', op.relu, (s, k) => awayFromZero(s, k)],
  ['Sqrt', op.sqrt, (s, k) => rand(s, k, 0.3, 2)],
  ['Exp', op.exp, (s, k) => rand(s, k, -1, 1)],
  ['Log', op.log, (s, k) => rand(s, k, 0.3, 2)],
  ['Neg', op.neg, (s, k) => rand(s, k)],
  ['Abs', op.abs, (s, k) => awayFromZero(s, k)],
  ['Identity', op.identity, (s, k) => rand(s, k)],
  ['Cast (float32 → float32)', (x) => op.cast(x, 'float32'), (s, k) => rand(s, k)],
  ['Softmax', (x) => op.softmax(x, -1), (s, k) => rand(s, k, -2, 2)],
  // Ops without a helper in ops.ts, recorded directly.
  ['Tanh', (x) => x.g.node1('Tanh', [x], {}, { dtype: x.dtype, shape: x.shape }), (s, k) => rand(s, k, -2, 2)],
  ['Reciprocal', (x) => x.g.node1('Reciprocal', [x], {}, { dtype: x.dtype, shape: x.shape }), (s, k) => awayFromZero(s, k, 0.5, 2)],
  ['Flatten', (x) => x.g.node1('Flatten', [x], { axis: 1 }, { dtype: x.dtype, shape: x.shape }), (s, k) => rand(s, k)],
];

for (const [name, f, make] of UNARY) {
  test(`${name} gradient matches finite differences (symbolic batch)`, async () => {
    // Squared so that the output gradient is not constant: a rule that ignores it would be caught.
    await checkGradients({
      build: (g) => {
        const y = f(g.input('x', 'float32', ['B', 5]));
        return op.mul(y, y);
      },
      feeds: { x: make([3, 5], 11) },
      wrt: ['x'],
    });
  });
}

test('a cast from bool carries no gradient, and the float path through it still does', async () => {
  await checkGradients({
    build: (g) => op.mul(g.input('x', 'float32', [2, 3]), op.cast(g.input('m', 'bool', [2, 3]), 'float32')),
    feeds: { x: rand([2, 3], 12), m: new Tensor('bool', Uint8Array.from([1, 0, 1, 1, 1, 0]), [2, 3]) },
    wrt: ['x'],
  });
});

test('the finite-difference check fails on a wrong rule', async () => {
  const rules = GRAD_RULES as Record<string, (typeof GRAD_RULES)[string]>;
  const right = rules['Sigmoid']!;
  // Pretend sigmoid' = 1: the checker must notice.
  rules['Sigmoid'] = (c) => [c.gradOutputs[0]!];
  try {
    await assert.rejects(
      checkGradients({ build: (g) => op.sigmoid(g.input('x', 'float32', [4])), feeds: { x: rand([4], 13) }, wrt: ['x'] }),
      /finite difference/,
    );
  } finally {
    rules['Sigmoid'] = right;
  }
});
