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

test('stabilized: the official targets where the official form is finite, and finite where it overflows (teacher temperature 0.01)', async () => {
  const g = (t: Tensor<'float32'>, temp: number, stabilized: boolean, nSamples?: number) => {
    const b = new GraphBuilder('sinkhorn');
    const x = b.input('t', 'float32', t.shape);
    b.output('q', sinkhornKnopp(x, { teacherTemp: temp, nIterations: 3, stabilized, ...(nSamples !== undefined ? { nSamples } : {}) }));
    return compileGraph(b.build()).then(async (c) => {
      const out = (await c.run({ t }))['q']!.data as Float32Array;
      await c.dispose();
      return out;
    });
  };
  // Where exp stays finite both forms equal the float64 transcription of the official code.
  const t = rand([6, 10], 11, -2, 2);
  for (const nSamples of [undefined, 8]) {
    const ref = flat(sinkhorn(toMat(t.data, 6, 10), 0.07, 3, nSamples));
    assert.ok(maxRel(await g(t, 0.07, true, nSamples), ref) < 1e-4);
  }
  // exp(10 / 0.07) and, with cosines near 1 at temperature 0.01, exp(99) overflow float32 (not float64): the
  // official form gives NaN, the stabilized one the float64 transcription's targets.
  for (const [t2, B, K, temp] of [
    [Tensor.float32([10, 0, 0, 0, 1, 2], [2, 3]), 2, 3, 0.07],
    [Tensor.float32([0.99, -0.5, 0.2, 0.95, 0.98, -1, 0.1, 0.97, 0.3, 0.9, -0.2, 0.96], [4, 3]), 4, 3, 0.01],
  ] as const) {
    assert.ok((await g(t2, temp, false)).some(Number.isNaN));
    const ours = await g(t2, temp, true);
    const ref = flat(sinkhorn(toMat(t2.data, B, K), temp, 3));
    assert.ok(ours.every(Number.isFinite), `non-finite targets: ${ours}`);
    assert.ok(maxRel(ours, ref) < 1e-4, `relative error ${maxRel(ours, ref)}`);
  }
});
