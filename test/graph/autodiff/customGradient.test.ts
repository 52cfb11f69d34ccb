import { test } from 'node:test';
import assert from 'node:assert/strict';
import { customGradient, gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import * as nn from '../../../src/graph/nn.js';
import * as op from '../../../src/graph/ops.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import { Tensor } from '../../../src/core/tensor.js';
import { checkGradients, rand } from './fd.js';

test('a custom gradient replaces the rules of the nodes between its inputs and its output', async () => {
  const g = new GraphBuilder('custom');
  const x = g.input('x', 'float32', [3]);
  // y = x² computed as x·x, but declared to have gradient 10·gy: the rule, not the nodes, must be used.
  const y = customGradient(op.mul(x, x), [x], (gy) => [op.mul(gy, g.scalar(10))]);
  const loss = op.reduceSum(op.add(y, x), [0]);
  g.output('gx', gradients(g, loss, [x]).get('x')!);
  const c = await compileGraph(g.build());
  const out = await c.run({ x: Tensor.float32([1, 2, -3], [3]) });
  await c.dispose();
  // d/dx (custom(x) + x) = 10 + 1 everywhere, whatever x is.
  assert.deepEqual([...(out['gx']!.data as Float32Array)], [11, 11, 11]);
});

test('the backward of GELU references only x: none of the pattern intermediates are kept for it', () => {
  const g = new GraphBuilder('gelu_backward');
  const x = g.input('x', 'float32', ['B', 8]);
  const y = nn.gelu(x);
  const forwardCount = g.recorded.nodes.length;
  const forwardValues = new Set(g.recorded.nodes.flatMap((n) => n.outputs));
  gradients(g, [{ value: y, grad: g.input('gy', 'float32', ['B', 8]) }], [x]);
  const backwardReads = new Set(g.recorded.nodes.slice(forwardCount).flatMap((n) => n.inputs));
  const forwardKept = [...forwardValues].filter((v) => backwardReads.has(v));
  assert.deepEqual(forwardKept, [], `backward reads forward values ${forwardKept.join(', ')}`);
});

test('GELU gradient matches finite differences and the derivative of 0.5·x·(1 + erf(x/√2))', async () => {
  const x = rand([4, 16], 5, -4, 4);
  const r = await checkGradients({ build: (g) => nn.gelu(g.input('x', 'float32', [4, 16])), feeds: { x }, wrt: ['x'], maxElements: 64 });
  const gx = r.grads.get('x')!;
  assert.ok(r.checked > 0);
  // checkGradients seeds with r = rand(y.shape, 1234); the analytic derivative times that seed:
  const seed = rand([4, 16], 1234, -1, 1).data;
  for (let i = 0; i < x.size; i++) {
    const v = x.data[i]!;
    const cdf = 0.5 * (1 + erf(v / Math.SQRT2));
    const pdf = Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    assert.ok(Math.abs(gx[i]! - seed[i]! * (cdf + v * pdf)) < 1e-5, `element ${i}`);
  }
});

/** erf by its Maclaurin series (|x| ≤ 3 here: converges well in float64). */
function erf(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

test('a custom gradient is refused where it would drop a gradient: a differentiated value inside its region, a graph input, a short rule', () => {
  const g = new GraphBuilder('custom_errors');
  const x = g.input('x', 'float32', [3]);
  const w = g.input('w', 'float32', [3]);
  // y depends on w inside the region, but the rule only speaks for x.
  const y = customGradient(op.mul(x, w), [x], (gy) => [gy]);
  assert.throws(() => gradients(g, op.reduceSum(y, [0]), [x, w]), /custom gradient of '.*' ignores 'w'/);
  assert.throws(() => customGradient(x, [x], (gy) => [gy]), /must be the only output of a node/);
  const g2 = new GraphBuilder('custom_short');
  const a = g2.input('a', 'float32', [3]);
  const b = g2.input('b', 'float32', [3]);
  const z = customGradient(op.add(a, b), [a, b], (gy) => [gy]);
  assert.throws(() => gradients(g2, op.reduceSum(z, [0]), [a, b]), /gave 1 gradients for 2 inputs/);
});
