import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients, stopGradient } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import * as op from '../../../src/graph/ops.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import { Tensor } from '../../../src/core/tensor.js';
import { rand } from './fd.js';

async function run(g: GraphBuilder, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const c = await compileGraph(g.build());
  const out = await c.run(feeds);
  await c.dispose();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

test('several seeded outputs: the gradient is the sum of their vector-Jacobian products', async () => {
  const g = new GraphBuilder('two_outputs');
  const x = g.input('x', 'float32', ['B', 3]);
  const y1 = op.mul(x, x);
  const y2 = op.exp(x);
  const r1 = g.input('r1', 'float32', y1.shape);
  const r2 = g.input('r2', 'float32', y2.shape);
  g.output('gx', gradients(g, [{ value: y1, grad: r1 }, { value: y2, grad: r2 }], ['x']).get('x')!);
  const [xv, a, b] = [rand([2, 3], 1), rand([2, 3], 2), rand([2, 3], 3)];
  const out = await run(g, { x: xv, r1: a, r2: b });
  for (let i = 0; i < 6; i++) {
    const expected = 2 * xv.data[i]! * a.data[i]! + Math.exp(xv.data[i]!) * b.data[i]!;
    assert.ok(Math.abs(out['gx']![i]! - expected) < 1e-5);
  }
});

test('gradients with respect to an intermediate value and an initializer', async () => {
  const g = new GraphBuilder('intermediate');
  const x = g.input('x', 'float32', [3]);
  const w = g.initializer('w', 'float32', [3], { bytes: async () => new Uint8Array(Float32Array.from([1, -2, 0.5]).buffer) });
  const h = op.mul(x, w);
  const loss = op.reduceSum(op.mul(h, h), [0]);
  const grads = gradients(g, loss, [h, 'w']);
  g.output('gh', grads.get(h.name)!);
  g.output('gw', grads.get('w')!);
  const xv = Tensor.float32([0.5, 1, -3], [3]);
  const out = await run(g, { x: xv });
  // d/dh Σh² = 2h; d/dw = 2h·x = 2x²w
  assert.deepEqual([...out['gh']!], [1, -4, -3]);
  assert.deepEqual([...out['gw']!], [0.5, -4, 9]);
});

test('stopGradient cuts the path: only the other path contributes', async () => {
  const g = new GraphBuilder('stop');
  const x = g.input('x', 'float32', [2]);
  const loss = op.reduceSum(op.mul(x, stopGradient(x)), [0]); // d/dx (x · sg(x)) = sg(x) = x, not 2x
  g.output('gx', gradients(g, loss, [x]).get('x')!);
  const out = await run(g, { x: Tensor.float32([3, -1], [2]) });
  assert.deepEqual([...out['gx']!], [3, -1]);
});

test('errors name the problem: a non-scalar loss without a seed, an op without a rule, an integer value', () => {
  const g = new GraphBuilder('errors');
  const x = g.input('x', 'float32', [2]);
  assert.throws(() => gradients(g, op.mul(x, x), [x]), /needs an explicit seed/);
  const y = g.node1('Cos', [x], {}, { dtype: 'float32', shape: [2] });
  assert.throws(() => gradients(g, op.reduceSum(y, [0]), [x]), /Cos \('[^']+'\) has no gradient rule/);
  const z = g.input('z', 'float32', [3]);
  assert.throws(() => gradients(g, op.reduceSum(op.reduceSumSquare(z, [0], true), [0]), [z]), /ReduceSumSquare \('[^']+'\) is not differentiable/);
  const i = g.input('i', 'int64', [2]);
  assert.throws(() => gradients(g, op.reduceSum(x, [0]), [i]), /cannot differentiate with respect to 'i'/);
});

test('an op without a rule off the differentiated path is fine (e.g. argmax feeding a gather index)', async () => {
  const g = new GraphBuilder('offpath');
  const x = g.input('x', 'float32', [3, 2]);
  const picked = op.gather(x, op.argMax(x, 0), 0); // rows chosen by the per-column argmax: [2, 2]
  g.output('gx', gradients(g, op.reduceSum(picked, [0, 1]), [x]).get('x')!);
  const out = await run(g, { x: Tensor.float32([1, 5, 3, 0, 2, 4], [3, 2]) });
  // argmax per column: [1, 0]; rows 1 and 0 are each gathered once, with gradient 1 per element.
  assert.deepEqual([...out['gx']!], [1, 1, 1, 1, 0, 0]);
});
