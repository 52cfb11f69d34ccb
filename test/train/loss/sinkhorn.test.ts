import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import { sinkhornKnopp } from '../../../src/train/loss/sinkhorn.js';
import { Tensor } from '../../../src/core/tensor.js';
import { rand } from '../../graph/autodiff/fd.js';
import { flat, sinkhorn, toMat } from './reference.js';

async function run(t: Tensor<'float32'>, temp: number, iterations: number, nSamples?: number, symbolic = false): Promise<Float32Array> {
  const g = new GraphBuilder('sinkhorn');
  const x = g.input('t', 'float32', symbolic ? ['B', t.shape[1]!] : t.shape);
  g.output('q', sinkhornKnopp(x, { teacherTemp: temp, nIterations: iterations, ...(nSamples !== undefined ? { nSamples } : {}) }));
  const c = await compileGraph(g.build());
  const out = (await c.run({ t }))['q']!.data as Float32Array;
  await c.dispose();
  return out;
}

function maxRel(a: ArrayLike<number>, b: readonly number[]): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1e-6 + Math.abs(b[i]!)));
  return m;
}

test('Sinkhorn-Knopp matches a float64 transcription of the official code (shapes, temperatures, iterations)', async () => {
  for (const [B, K, temp, it, symbolic] of [[6, 10, 0.07, 3, false], [5, 33, 0.04, 3, true], [8, 4, 0.1, 1, false], [3, 17, 0.2, 5, true]] as const) {
    // Logits of a head output (|t| ≤ 2): exp(t / temp) stays finite in float32.
    const t = rand([B, K], B * K, -2, 2);
    const ours = await run(t, temp, it, undefined, symbolic);
    const ref = flat(sinkhorn(toMat(t.data, B, K), temp, it));
    assert.ok(maxRel(ours, ref) < 1e-4, `B=${B} K=${K}: relative error ${maxRel(ours, ref)}`);
    // After the last step every sample's assignment sums to 1.
    for (let b = 0; b < B; b++) assert.ok(Math.abs(ours.subarray(b * K, (b + 1) * K).reduce((a, v) => a + v, 0) - 1) < 1e-5);
  }
});

test('an explicit sample count (iBOT: n_masked_patches) replaces the row count', async () => {
  const t = rand([7, 9], 3, -2, 2);
  const ours = await run(t, 0.07, 3, 10);
  const ref = flat(sinkhorn(toMat(t.data, 7, 9), 0.07, 3, 10));
  assert.ok(maxRel(ours, ref) < 1e-4);
});

test('like PyTorch, logits / temp beyond float32 exp range give NaN (no max subtraction)', async () => {
  const t = Tensor.float32([10, 0, 0, 0, 1, 2], [2, 3]);
  const ours = await run(t, 0.07, 3);
  assert.ok(Number.isNaN(ours[0]!));
});
