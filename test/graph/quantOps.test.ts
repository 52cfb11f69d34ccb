/** The integer ops of graph/ops.ts (int8 inference) against the same arithmetic written out in JS. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import * as op from '../../src/graph/ops.js';
import { compileGraph } from '../../src/graph/runtime.js';

test('batched MatMulIntegerToFloat: (a − zero)·B per matrix, scaled per tensor and per column of each B', async () => {
  const [H, M, K, N] = [2, 3, 4, 5];
  const a = Uint8Array.from({ length: H * M * K }, (_, i) => (i * 53) % 256);
  const b = Int8Array.from({ length: H * K * N }, (_, i) => ((i * 71) % 255) - 127);
  const bScale = Float32Array.from({ length: H * N }, (_, i) => 0.01 * (i + 1));
  const [aScale, zero] = [0.5, 7];
  const g = new GraphBuilder('mmitf');
  const A = g.input('a', 'uint8', [1, H, M, K]);
  const B = g.input('b', 'int8', [1, H, K, N]);
  const S = g.input('s', 'float32', [1, H, 1, N]);
  const y = op.matMulIntegerToFloat(A, B, g.scalar(aScale), S, op.cast(g.scalar(zero), 'uint8'));
  assert.deepEqual(y.shape, [1, H, M, N]);
  g.output('y', y);
  const c = await compileGraph(g.build());
  const out = (await c.run({ a: new Tensor('uint8', a, [1, H, M, K]), b: new Tensor('int8', b, [1, H, K, N]), s: Tensor.float32(bScale, [1, H, 1, N]) })).y!.data as Float32Array;
  await c.dispose();
  for (let h = 0; h < H; h++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let acc = 0;
    for (let k = 0; k < K; k++) acc += (a[(h * M + m) * K + k]! - zero) * b[(h * K + k) * N + n]!;
    const want = acc * aScale * bScale[h * N + n]!;
    const got = out[(h * M + m) * N + n]!;
    assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want) + 1e-6, `[${h}, ${m}, ${n}]: ${got} vs ${want}`);
  }
  // Shape checks name the op.
  assert.throws(() => op.matMulIntegerToFloat(B as never, B, g.scalar(1), S, null), /MatMulIntegerToFloat: needs a uint8 input, got int8/);
  assert.throws(() => op.matMulIntegerToFloat(A, g.input('w', 'int8', [3, N]), g.scalar(1), S, null), /input has 4 features but the weight \[3, 5\] expects 3/);
});

test('QuantizeLinear per axis: saturate(round-half-even(x / scale_i) + zero_i) for each row', async () => {
  const x = Float32Array.from([0.25, 0.75, -1, 300, 1.25, -0.25, 2.5, -400]);
  const scale = Float32Array.from([0.5, 0.5]);
  const zero = Uint8Array.from([0, 128]);
  const g = new GraphBuilder('q');
  const X = g.input('x', 'float32', [2, 4]);
  g.output('y', op.quantizeLinearPerAxis(X, g.input('s', 'float32', [2]), g.input('z', 'uint8', [2]), 0));
  const c = await compileGraph(g.build());
  const y = (await c.run({ x: Tensor.float32(x, [2, 4]), s: Tensor.float32(scale, [2]), z: new Tensor('uint8', zero, [2]) })).y!;
  await c.dispose();
  // Row 0: 0.5 → 0 (half to even), 1.5 → 2, −2 → 0 (saturated), 600 → 255; row 1 (+128): 2.5 → 2, −0.5 → −0, 5, −800.
  assert.deepEqual([...(y.data as Uint8Array)], [0, 2, 0, 255, 130, 128, 133, 0]);
  assert.throws(() => op.quantizeLinearPerAxis(X, g.input('s3', 'float32', [3]), g.input('z3', 'uint8', [3]), 0), /QuantizeLinear: 3 scales for axis 0 of size 2/);
});
