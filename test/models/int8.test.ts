import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dinov2 } from '../../src/models/dinov2.js';
import { hubConfig } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { int8OutlierChannels, quantizeInt8PerRow, smoothForInt8, storedFloat32, weightScope, type WeightStore } from '../../src/models/weightStore.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import * as op from '../../src/graph/ops.js';
import { compileGraph } from '../../src/graph/runtime.js';
import { linearLayer, linearProjections } from '../../src/models/layers/linear.js';
import { Tensor } from '../../src/core/tensor.js';
import { cosineMin } from '../../bench/similarity.js';
import { maxAbsDiff, setWeights } from '../helpers.js';

test('per-row int8 weights: levels within ±maxLevel, transposed, each within half a step of the weight', () => {
  const [out, inF] = [5, 7];
  const w = Float32Array.from({ length: out * inF }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 5)));
  for (const maxLevel of [127, 63]) {
    const { q, scale } = quantizeInt8PerRow(w, out, inF, maxLevel);
    for (let o = 0; o < out; o++) {
      let peak = 0;
      for (let i = 0; i < inF; i++) {
        const level = q[i * out + o]!;
        peak = Math.max(peak, Math.abs(level));
        assert.ok(Math.abs(level * scale[o]! - w[o * inF + i]!) <= scale[o]! / 2 + 1e-7);
      }
      assert.equal(peak, maxLevel, `row ${o}: the largest weight maps to ±${maxLevel}`);
    }
  }
  assert.throws(() => quantizeInt8PerRow(w, out, inF, 128), /int8 max level must be an integer in 1\.\.127, got 128/);
});

// The accuracy bar for the int8 path, on the network it names (ViT-S/14, random weights).
test('int8 ViT-S/14 keeps cosine ≥ 0.99 to float32 for the CLS and every patch token', async () => {
  const cfg = hubConfig('dinov2_vits14');
  const weights = randomBackboneWeights(cfg, 11);
  // Non-zero biases (random init leaves them 0): the int8 layers take them on another path than the weights.
  setWeights(weights, /^blocks\.\d+\.(attn|mlp)\..*bias$/, (i, key) => Math.sin(i * 0.7 + key.length) * 0.1);
  const x = Tensor.float32(Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.013) * 1.5 + Math.cos(i * 0.0007)), [2, 3, 224, 224]);
  const fp32 = new Dinov2(cfg, weights, { fusedAttention: false });
  const ref = await fp32.forwardFeatures(x);
  await fp32.dispose();
  const int8 = new Dinov2(cfg, weights, { quantization: 'int8' });
  const out = await int8.forwardFeatures(x);
  await int8.dispose();
  const cls = cosineMin(out.clsToken.data, ref.clsToken.data, cfg.embed_dim);
  const patch = cosineMin(out.patchTokens.data, ref.patchTokens.data, cfg.embed_dim);
  assert.ok(cls >= 0.99 && patch >= 0.99, `cosine CLS ${cls}, patch ${patch}`);
  assert.ok(cls < 1 - 1e-7, 'the int8 graph must actually differ from float32');
});

test('smoothForInt8 moves the LayerNorm scale into the int8 Linear: same function, balanced ranges', async () => {
  const D = 6;
  const out = 4;
  const gamma = Float32Array.from([1, 16, 0.5, 2, 1, 0]);
  const beta = Float32Array.from([0.1, -0.2, 0, 0.3, -1, 0]);
  const w = Float32Array.from({ length: out * D }, (_, i) => Math.sin(i * 1.3) * 0.05 + (i % D === 4 ? 0.2 : 0));
  const store: WeightStore = new Map([
    ['blocks.0.norm1.weight', storedFloat32([D], gamma)],
    ['blocks.0.norm1.bias', storedFloat32([D], beta)],
    ['blocks.0.attn.qkv.weight', storedFloat32([out, D], w)],
    ['blocks.0.norm2.weight', storedFloat32([D], gamma)],
    ['blocks.0.mlp.fc1.weight', storedFloat32([out, D], w)],
  ]);
  const read = async (s: WeightStore, k: string) => {
    const b = await s.get(k)!.source.bytes();
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  // Only Linear layers that run as int8 are smoothed.
  const smoothed = smoothForInt8(store, (k) => k.includes('qkv'));
  assert.equal(smoothed.get('blocks.0.mlp.fc1.weight'), store.get('blocks.0.mlp.fc1.weight'));
  assert.equal(smoothed.get('blocks.0.norm2.weight'), store.get('blocks.0.norm2.weight'));
  const [g2, b2, w2] = [await read(smoothed, 'blocks.0.norm1.weight'), await read(smoothed, 'blocks.0.norm1.bias'), await read(smoothed, 'blocks.0.attn.qkv.weight')];
  for (let c = 0; c < D; c++) {
    let wMax = 0;
    for (let o = 0; o < out; o++) {
      // W·(γ⊙n + β) is unchanged for every n: each product W[o,c]·γ_c and W[o,c]·β_c is.
      assert.ok(Math.abs(w2[o * D + c]! * g2[c]! - w[o * D + c]! * gamma[c]!) <= 1e-6 * Math.abs(w[o * D + c]! * gamma[c]!) + 1e-9);
      assert.ok(Math.abs(w2[o * D + c]! * b2[c]! - w[o * D + c]! * beta[c]!) <= 1e-6 * Math.abs(w[o * D + c]! * beta[c]!) + 1e-9);
      wMax = Math.max(wMax, Math.abs(w2[o * D + c]!));
    }
    // α = 1/2: the input channel's span |γ|+|β| and the weight column's largest |w| end up equal.
    if (gamma[c] !== 0 || beta[c] !== 0) assert.ok(Math.abs(Math.abs(g2[c]!) + Math.abs(b2[c]!) - wMax) < 1e-6 * wMax, `channel ${c}`);
  }
  // The outlier channel (γ = 16) no longer spans 16× the others.
  assert.ok(Math.abs(g2[1]!) + Math.abs(b2[1]!) < 4 * (Math.abs(g2[0]!) + Math.abs(b2[0]!)));
});

test('int8OutlierChannels: LayerNorm channels spanning ≥ ratio × the median, largest first up to max, by Linear key', async () => {
  const D = 12;
  const gamma = Float32Array.from([1, 9, 1, -1, 5, 1, 20, 1, 1, 1, 1, -1]);
  const beta = Float32Array.from([0, 0, 0, 0, 0, 0, 0, 3.5, 0, 0, 0, 0]); // channel 7 spans 1 + 3.5 = 4.5
  const w = storedFloat32([4, D], new Float32Array(4 * D));
  const store: WeightStore = new Map([
    ['blocks.0.norm1.weight', storedFloat32([D], gamma)],
    ['blocks.0.norm1.bias', storedFloat32([D], beta)],
    ['blocks.0.attn.qkv.weight', w],
    ['blocks.0.norm2.weight', storedFloat32([D], new Float32Array(D).fill(2))],
    ['blocks.0.mlp.fc1.weight', w],
  ]);
  const all = await int8OutlierChannels(store, () => true);
  // Median span 1: channels 1 (9), 4 (5), 6 (20), 7 (4.5) are ≥ 4×; norm2 (all equal) has none.
  assert.deepEqual([...all], [['blocks.0.attn.qkv.weight', [1, 4, 6, 7]]]);
  assert.deepEqual([...(await int8OutlierChannels(store, () => true, { max: 2 }))], [['blocks.0.attn.qkv.weight', [1, 6]]]);
  assert.deepEqual([...(await int8OutlierChannels(store, () => true, { ratio: 6 }))], [['blocks.0.attn.qkv.weight', [1, 6]]]);
  assert.equal((await int8OutlierChannels(store, (k) => !k.includes('qkv'))).size, 0, 'only pairs whose Linear runs as int8');
  await assert.rejects(int8OutlierChannels(store, () => true, { ratio: 1 }), /int8 outlier ratio must be above 1, got 1/);
});

/** y = x·Wᵀ + b through linearLayer / linearProjections on an int8 scope, against the same product in JS. */
async function int8Linear(x: Float32Array, shape: [number, number, number], w: Float32Array, b: Float32Array, outliers: number[] | null, projections: boolean) {
  const [B, T, K] = shape;
  const N = b.length;
  const g = new GraphBuilder('int8_linear');
  const store: WeightStore = new Map([
    ['l.weight', storedFloat32([N, K], w)],
    ['l.bias', storedFloat32([N], b)],
  ]);
  const p = weightScope(g, store, { int8: () => true, ...(outliers ? { int8Outliers: new Map([['l.weight', outliers]]) } : {}) }).scope('l');
  const xs = g.input('x', 'float32', [B, T, K]);
  if (projections) {
    const parts = linearProjections(xs, p, [N / 2, N / 2]);
    g.output('y', op.add(op.concat(parts, -1), p.get('bias')));
  } else g.output('y', linearLayer(xs, p));
  const compiled = await compileGraph(g.build());
  const y = (await compiled.run({ x: Tensor.float32(x, [B, T, K]) })).y!.data as Float32Array;
  await compiled.dispose();
  const ref = new Float32Array(B * T * N);
  for (let r = 0; r < B * T; r++) for (let n = 0; n < N; n++) {
    let s = b[n]!;
    for (let k = 0; k < K; k++) s += x[r * K + k]! * w[n * K + k]!;
    ref[r * N + n] = s;
  }
  return { y, ref, N };
}

test('int8 Linear with float32 outlier channels: exact when every channel is one, closer than int8 alone when a few are', async () => {
  const [B, T, K, N] = [2, 5, 12, 6];
  const w = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i * 0.37) * 0.3);
  const b = Float32Array.from({ length: N }, (_, i) => 0.1 * i - 0.2);
  // Channels 3 and 8 carry values ~100× the others (as LayerNorm channels with a large γ do).
  const x = Float32Array.from({ length: B * T * K }, (_, i) => Math.cos(i * 0.91) * (i % K === 3 || i % K === 8 ? 100 : 1));
  for (const projections of [false, true]) {
    // Every channel in float32: the int8 product is of zeros, so the result is the float product.
    const every = await int8Linear(x, [B, T, K], w, b, Array.from({ length: K }, (_, c) => c), projections);
    assert.ok(maxAbsDiff(every.y, every.ref) < 1e-4, `all channels float32 (projections ${projections}): ${maxAbsDiff(every.y, every.ref)}`);
    const plain = await int8Linear(x, [B, T, K], w, b, null, projections);
    const split = await int8Linear(x, [B, T, K], w, b, [3, 8], projections);
    const [ePlain, eSplit] = [maxAbsDiff(plain.y, plain.ref), maxAbsDiff(split.y, split.ref)];
    // Without the split the per-tensor scale spans ±100 (step ~0.8), so the unit channels lose nearly all
    // their levels; with it the step is ~2/255 and the outlier products are exact.
    assert.ok(eSplit < ePlain / 10, `projections ${projections}: error ${eSplit} with the split, ${ePlain} without`);
    assert.ok(cosineMin(split.y, split.ref, split.N) >= 0.9999, `projections ${projections}: cosine ${cosineMin(split.y, split.ref, split.N)}`);
  }
});

/** y = x·Wᵀ + b through the per-row int8 Linear (int8PerRow) on a [1, M, K] input, beside the JS product. */
async function perRowLinear(x: Float32Array, M: number, K: number, w: Float32Array, b: Float32Array, perRow: boolean) {
  const N = b.length;
  const g = new GraphBuilder('int8_rows');
  const store: WeightStore = new Map([
    ['l.weight', storedFloat32([N, K], w)],
    ['l.bias', storedFloat32([N], b)],
  ]);
  const p = weightScope(g, store, { int8: () => true, int8PerRow: () => perRow }).scope('l');
  g.output('y', linearLayer(g.input('x', 'float32', ['batch', M, K]), p));
  const compiled = await compileGraph(g.build());
  const out = (await compiled.run({ x: Tensor.float32(x, [1, M, K]) })).y!;
  await compiled.dispose();
  const y = { shape: out.shape, data: out.data as Float32Array };
  const ref = new Float32Array(M * N);
  for (let r = 0; r < M; r++) for (let n = 0; n < N; n++) {
    let s = b[n]!;
    for (let k = 0; k < K; k++) s += x[r * K + k]! * w[n * K + k]!;
    ref[r * N + n] = s;
  }
  return { y, ref, N };
}

test('per-row int8 Linear: exact on a grid the quantizer represents exactly (row zero points taken out right)', async () => {
  const [M, K, N] = [3, 256, 5];
  // Integer weights with 127 in every row: the per-row weight scale is exactly 1.
  const w = Float32Array.from({ length: N * K }, (_, i) => (i % K === 0 ? 127 : ((i * 37) % 255) - 127));
  const b = Float32Array.from({ length: N }, (_, i) => i - 2);
  // Row r holds (j − z_r)·s_r for every j in 0..255 (so min and max are on the grid): scale s_r, zero point z_r.
  const grid = [[0.125, 40], [2, 0], [0.5, 255]] as const;
  const x = new Float32Array(M * K);
  for (let r = 0; r < M; r++) for (let k = 0; k < K; k++) x[r * K + k] = (((k * 97) % 256) - grid[r]![1]) * grid[r]![0];
  const { y, ref } = await perRowLinear(x, M, K, w, b, true);
  assert.deepEqual(y.shape, [1, M, N]);
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(y.data[i]! - ref[i]!) <= 1e-5 * Math.abs(ref[i]!) + 1e-3, `element ${i}: ${y.data[i]} vs ${ref[i]}`);
});

test('per-row int8 Linear: a token with 100× larger activations no longer coarsens the others', async () => {
  const [M, K, N] = [6, 64, 8];
  const w = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i * 0.37) * 0.3);
  const b = Float32Array.from({ length: N }, (_, i) => 0.05 * i);
  const x = Float32Array.from({ length: M * K }, (_, i) => Math.max(-0.17, Math.cos(i * 0.91)) * (i < K ? 100 : 1));
  const [tensor, rows] = [await perRowLinear(x, M, K, w, b, false), await perRowLinear(x, M, K, w, b, true)];
  const errOfSmallRows = (r: { y: { data: Float32Array }; ref: Float32Array }) => maxAbsDiff(r.y.data.subarray(N), r.ref.subarray(N));
  // Per tensor the step is ~100/255 for every row; per row it is ~1/255 for the small ones.
  assert.ok(errOfSmallRows(rows) < errOfSmallRows(tensor) / 10, `small rows: ${errOfSmallRows(rows)} per row, ${errOfSmallRows(tensor)} per tensor`);
  // 8-bit rows and 8-bit weights leave ~1 % relative error on outputs of 8 values (64 products each);
  // cosine 0.9995 allows ~3 %, while the per-tensor form is far off on the small rows.
  assert.ok(cosineMin(rows.y.data, rows.ref, N) >= 0.9995, `cosine ${cosineMin(rows.y.data, rows.ref, N)}`);
});

// The accuracy goal (≥ 0.999) on a ViT-S/14 with what makes trained ViTs hard for int8: LayerNorm
// weights 16 on four channels of every block (bench/precision.ts's outlier model), non-zero biases.
test('int8 ViT-S/14 with outlier LayerNorm channels keeps cosine ≥ 0.999 to float32 (CLS and every patch token)', async () => {
  const cfg = hubConfig('dinov2_vits14');
  const weights = randomBackboneWeights(cfg, 11);
  setWeights(weights, /^blocks\.\d+\.norm[12]\.weight$/, (i) => ([7, 100, 201, 333].includes(i) ? 16 : 1));
  setWeights(weights, /^blocks\.\d+\.(attn|mlp)\..*bias$/, (i, key) => 0.02 * Math.sin(i * 1.7 + key.length));
  const x = Tensor.float32(Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.013) * 1.5 + Math.cos(i * 0.0007)), [2, 3, 224, 224]);
  const fp32 = new Dinov2(cfg, weights, { fusedAttention: false });
  const ref = await fp32.forwardFeatures(x);
  await fp32.dispose();
  const cos = async (int8Options: { outlierChannels?: boolean; perTokenFc2?: boolean }) => {
    const m = new Dinov2(cfg, weights, { quantization: 'int8', int8Options });
    const out = await m.forwardFeatures(x);
    await m.dispose();
    return [cosineMin(out.clsToken.data, ref.clsToken.data, cfg.embed_dim), cosineMin(out.patchTokens.data, ref.patchTokens.data, cfg.embed_dim)] as const;
  };
  const [cls, patch] = await cos({});
  assert.ok(cls >= 0.999 && patch >= 0.999, `cosine CLS ${cls}, patch ${patch}`);
  // The remedies are what gets it there: without them the same model is below the goal.
  const [cls0, patch0] = await cos({ outlierChannels: false, perTokenFc2: false });
  assert.ok(Math.min(cls0, patch0) < Math.min(cls, patch), `without remedies CLS ${cls0}, patch ${patch0}`);
});

test('smoothForInt8 leaves the channels that stay float32 as they are', async () => {
  const D = 4;
  const gamma = Float32Array.from([1, 16, 2, 1]);
  const w = Float32Array.from({ length: 3 * D }, (_, i) => Math.sin(i) * 0.1);
  const store: WeightStore = new Map([
    ['blocks.0.norm1.weight', storedFloat32([D], gamma)],
    ['blocks.0.attn.qkv.weight', storedFloat32([3, D], w)],
  ]);
  const smoothed = smoothForInt8(store, () => true, new Map([['blocks.0.attn.qkv.weight', [1]]]));
  const read = async (k: string) => {
    const b = await smoothed.get(k)!.source.bytes();
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  const [g2, w2] = [await read('blocks.0.norm1.weight'), await read('blocks.0.attn.qkv.weight')];
  assert.equal(g2[1], 16);
  for (let o = 0; o < 3; o++) assert.equal(w2[o * D + 1], w[o * D + 1]);
  assert.notEqual(g2[2], 2, 'the other channels are still smoothed');
});
