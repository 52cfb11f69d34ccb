import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/graph/builder.js';
import * as op from '../../src/graph/ops.js';
import { lowerForDevice, lowerLogSoftmax } from '../../src/graph/lowering.js';
import { compileGraph } from '../../src/graph/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { Rng } from '../../src/core/rng.js';

/** log_softmax along `axis` of a row-major [d0, d1, d2] array, in float64. */
function referenceLogSoftmax(x: Float32Array, dims: readonly number[], axis: number): Float64Array {
  const out = new Float64Array(x.length);
  const stride = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis]!;
  for (let base = 0; base < x.length; base++) {
    if (Math.floor(base / stride) % n !== 0) continue;
    let max = -Infinity;
    for (let k = 0; k < n; k++) max = Math.max(max, x[base + k * stride]!);
    let sum = 0;
    for (let k = 0; k < n; k++) sum += Math.exp(x[base + k * stride]! - max);
    for (let k = 0; k < n; k++) out[base + k * stride] = x[base + k * stride]! - max - Math.log(sum);
  }
  return out;
}

test("lowerForDevice 'webgpu': LogSoftmax becomes max-shifted Exp/ReduceSum/Log with the same values (any axis, logits up to ±300); other devices keep the graph", async () => {
  const dims = [3, 5, 7];
  const rng = new Rng(4);
  const data = Float32Array.from({ length: 105 }, (_, i) => (i % 17 === 0 ? 300 : i % 13 === 0 ? -300 : 8 * rng.normal()));
  for (const axis of [-1, 1, 0]) {
    const g = new GraphBuilder('lsm');
    const x = g.input('x', 'float32', dims);
    g.output('y', op.mul(op.logSoftmax(x, axis), g.scalar(1)));
    const ir = g.build();
    assert.equal(lowerForDevice(ir, 'cpu'), ir);
    assert.equal(lowerForDevice(ir, 'cuda'), ir);
    const lowered = lowerForDevice(ir, 'webgpu');
    assert.ok(!lowered.nodes.some((n) => n.op === 'LogSoftmax'), 'LogSoftmax left');
    assert.ok(ir.nodes.some((n) => n.op === 'LogSoftmax'), 'the original graph was modified');
    assert.deepEqual(lowered.nodes.map((n) => n.op), ['ReduceMax', 'Sub', 'Exp', 'ReduceSum', 'Log', 'Sub', 'Mul', 'Identity']);
    const want = referenceLogSoftmax(data, dims, axis < 0 ? axis + 3 : axis);
    for (const graph of [ir, lowered]) {
      const c = await compileGraph(graph);
      try {
        const y = (await c.run({ x: Tensor.float32(data, dims) }))['y']!.data as Float32Array;
        let err = 0;
        for (let i = 0; i < y.length; i++) err = Math.max(err, Math.abs(y[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
        assert.ok(err < 1e-6, `axis ${axis}, ${graph === ir ? 'LogSoftmax' : 'lowered'}: relative error ${err}`);
      } finally {
        await c.dispose();
      }
    }
  }
  // A graph at opset 18 gets ReduceMax's axes as an input.
  const g = new GraphBuilder('lsm18', { '': 18 });
  g.output('y', op.logSoftmax(g.input('x', 'float32', [2, 4]), -1));
  const n18 = lowerLogSoftmax(g.build()).nodes.find((n) => n.op === 'ReduceMax')!;
  assert.equal(n18.inputs.length, 2);
  assert.deepEqual(n18.attrs, { keepdims: 1 });
});
