import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gradients } from '../../src/graph/autodiff.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import * as op from '../../src/graph/ops.js';
import { compileGraph } from '../../src/graph/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import {
  addResidualMasked,
  addResidualOnSubset,
  blockDropRates,
  maskInput,
  planDropPath,
  sampleMask,
  sampleSubset,
  subsetInputs,
  subsetSize,
} from '../../src/train/ssl/dropPath.js';
import { Rng } from '../../src/core/rng.js';
import { findTorchPython, runPython, tempDir } from '../formats/helpers.js';

test('per-block rates: uniform, or linspace(0, rate, depth) with the last exactly rate', () => {
  assert.deepEqual(blockDropRates(0.3, 4, true), [0.3, 0.3, 0.3, 0.3]);
  const r = blockDropRates(0.4, 5, false);
  const want = [0, 0.1, 0.2, 0.30000000000000004, 0.4]; // numpy: i * (0.4 / 4), endpoint forced
  assert.deepEqual(r, want);
  assert.deepEqual(blockDropRates(0.4, 1, false), [0]);
  assert.throws(() => blockDropRates(1.5, 4, true), /rate/);
});

test('per-block rates and subset sizes match numpy / Python int()', async (t) => {
  const python = findTorchPython();
  if (!python) return t.skip('no python with torch');
  const cases = [
    [0.4, 40],
    [0.3, 12],
    [0.1, 24],
    [0.35, 7],
  ];
  const batches = [1, 2, 3, 7, 10, 16, 64, 129];
  const out = runPython(
    python,
    String.raw`
import json, sys, numpy as np
cases = json.loads(sys.argv[1]); batches = json.loads(sys.argv[2])
print(json.dumps({'rates': [np.linspace(0, r, d).tolist() for r, d in cases],
                  'sizes': [[max(int(b * (1 - r)), 1) for b in batches] for r, _ in cases]}))
`,
    [JSON.stringify(cases), JSON.stringify(batches)],
  );
  const want = JSON.parse(out) as { rates: number[][]; sizes: number[][] };
  cases.forEach(([rate, depth], i) => {
    assert.deepEqual(blockDropRates(rate!, depth!, false), want.rates[i]);
    assert.deepEqual(batches.map((b) => subsetSize(b, rate!)), want.sizes[i]);
  });
});

test('a subset decision: distinct rows, consistent inverse map, scale B/S, uniform over rows', () => {
  const rng = new Rng(3);
  const counts = new Array<number>(10).fill(0);
  const trials = 4000;
  for (let k = 0; k < trials; k++) {
    const d = sampleSubset(rng, 10, 0.3);
    assert.equal(d.indices.length, 7);
    assert.equal(new Set(d.indices).size, 7);
    assert.equal(d.scale, 10 / 7);
    for (let b = 0; b < 10; b++) {
      const pos = d.indices.indexOf(b);
      assert.equal(d.inverse[b], pos + 1);
      if (pos >= 0) counts[b]!++;
    }
  }
  // Each row is kept with probability 0.7: 2800 ± 5σ (σ ≈ 29).
  for (const c of counts) assert.ok(Math.abs(c - 0.7 * trials) < 150, `counts ${counts}`);
  assert.equal(sampleSubset(new Rng(1), 1, 0.9).indices.length, 1);
  // Same seed, same decisions.
  assert.deepEqual(sampleSubset(new Rng(9), 33, 0.4), sampleSubset(new Rng(9), 33, 0.4));
});

test('a mask decision: Bernoulli(keep) per sample, kept ones scaled by f32(1/keep)', () => {
  const rng = new Rng(4);
  let kept = 0;
  const n = 20000;
  const d = sampleMask(rng, n, 0.1);
  const factor = Math.fround(1 / Math.fround(0.9));
  for (const x of d.factors) {
    assert.ok(x === 0 || x === factor);
    if (x !== 0) kept++;
  }
  assert.ok(Math.abs(kept - 0.9 * n) < 5 * Math.sqrt(n * 0.09), `kept ${kept}`);
  assert.deepEqual([...sampleMask(new Rng(1), 5, 1).factors], [0, 0, 0, 0, 0]);
});

test('planDropPath: official variant per rate and path, draws per block / branch / crop set', () => {
  const rates = [0, 0.05, 0.3];
  const nested = planDropPath(new Rng(1), { rates, batchSizes: [4, 16] });
  assert.deepEqual(nested.map((b) => b.attn.map((d) => d.kind)), [['none', 'none'], ['subset', 'subset'], ['subset', 'subset']]);
  assert.deepEqual(nested[2]!.ffn.map((d) => d.batch), [4, 16]);
  const single = planDropPath(new Rng(1), { rates, batchSizes: [8], nested: false });
  assert.deepEqual(single.map((b) => [b.attn[0]!.kind, b.ffn[0]!.kind]), [['none', 'none'], ['mask', 'mask'], ['subset', 'subset']]);
  // Order: block 1 attn (global, local), block 1 ffn (global, local), block 2 …
  const rng = new Rng(1);
  const expect = [
    sampleSubset(rng, 4, 0.05), sampleSubset(rng, 16, 0.05), sampleSubset(rng, 4, 0.05), sampleSubset(rng, 16, 0.05),
    sampleSubset(rng, 4, 0.3), sampleSubset(rng, 16, 0.3), sampleSubset(rng, 4, 0.3), sampleSubset(rng, 16, 0.3),
  ];
  assert.deepEqual([...nested[1]!.attn, ...nested[1]!.ffn, ...nested[2]!.attn, ...nested[2]!.ffn], expect);
  assert.throws(() => planDropPath(new Rng(1), { rates, batchSizes: [2, 3], nested: false }), /one batch size/);
});

/** The residual branch of the graph tests: x·W over the last axis (the same in the host and torch references). */
const D = 6;
const W = Float32Array.from({ length: D * D }, (_, i) => Math.sin(i) * 0.5);

async function runSubsetGraph(x: Float32Array, shape: number[], decision: ReturnType<typeof sampleSubset>): Promise<Float32Array> {
  const g = new GraphBuilder('drop_path_subset');
  const xs = g.input('x', 'float32', ['B', shape[1]!, D]);
  const inputs = subsetInputs(decision);
  const idx = g.input('indices', 'int64', ['S']);
  const inv = g.input('inverse', 'int64', ['B']);
  const scale = g.input('scale', 'float32', [1]);
  const w = g.constant('float32', [D, D], [...W]);
  g.output('y', addResidualOnSubset(xs, (v) => op.matmul(v, w), idx, inv, scale));
  const session = await compileGraph(g.build());
  try {
    const r = await session.run({ x: Tensor.float32(x, shape), ...inputs });
    return r['y']!.data as Float32Array;
  } finally {
    await session.dispose();
  }
}

test('addResidualOnSubset = x + B/S · f(x[rows]) on the kept rows (float64 host reference)', async () => {
  const B = 5;
  const N = 3;
  const rng = new Rng(8);
  const x = Float32Array.from({ length: B * N * D }, () => rng.normal());
  const d = sampleSubset(rng, B, 0.4);
  const y = await runSubsetGraph(x, [B, N, D], d);
  for (let b = 0; b < B; b++) {
    const kept = d.indices.includes(b);
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < D; j++) {
        let r = 0;
        for (let k = 0; k < D; k++) r += x[(b * N + n) * D + k]! * W[k * D + j]!;
        const want = x[(b * N + n) * D + j]! + (kept ? d.scale * r : 0);
        const got = y[(b * N + n) * D + j]!;
        assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `[${b},${n},${j}] ${got} vs ${want} (kept ${kept})`);
      }
    }
  }
  // Masked variant: x + f(x) · factor per sample.
  const m = sampleMask(new Rng(2), B, 0.5);
  const g = new GraphBuilder('drop_path_mask');
  const xi = g.input('x', 'float32', [B, N, D]);
  const fi = g.input('factors', 'float32', [B, 1, 1]);
  g.output('y', addResidualMasked(xi, (v) => op.mul(v, g.scalar(2)), fi));
  const session = await compileGraph(g.build());
  try {
    const r = (await session.run({ x: Tensor.float32(x, [B, N, D]), factors: maskInput(m) }))['y']!.data as Float32Array;
    r.forEach((v, i) => assert.equal(v, Math.fround(x[i]! + Math.fround(Math.fround(x[i]! * 2) * m.factors[Math.floor(i / (N * D))]!))));
  } finally {
    await session.dispose();
  }
});

test('addResidualOnSubset matches the official drop_add_residual_stochastic_depth given the same rows', async (t) => {
  const python = findTorchPython();
  if (!python) return t.skip('no python with torch');
  const dir = await tempDir();
  const B = 16;
  const N = 4;
  const rng = new Rng(21);
  const x = Float32Array.from({ length: B * N * D }, () => rng.normal());
  const d = sampleSubset(rng, B, 0.4);
  await writeFile(join(dir, 'x.bin'), Buffer.from(x.buffer));
  await writeFile(join(dir, 'w.bin'), Buffer.from(W.buffer));
  await writeFile(join(dir, 'spec.json'), JSON.stringify({ B, N, D, brange: d.indices, rate: 0.4 }));
  runPython(
    python,
    String.raw`
import json, sys, numpy as np, torch
d = sys.argv[1]
s = json.load(open(d + '/spec.json'))
x = torch.from_numpy(np.fromfile(d + '/x.bin', dtype='<f4')).reshape(s['B'], s['N'], s['D'])
w = torch.from_numpy(np.fromfile(d + '/w.bin', dtype='<f4')).reshape(s['D'], s['D'])
# The body of dinov2.layers.block.drop_add_residual_stochastic_depth with brange given instead of drawn.
b, n, dd = x.shape
sample_subset_size = max(int(b * (1 - s['rate'])), 1)
brange = torch.tensor(s['brange'], dtype=torch.long)
assert len(brange) == sample_subset_size
residual = x[brange] @ w
out = torch.index_add(x.flatten(1), 0, brange, residual.flatten(1).to(dtype=x.dtype), alpha=b / sample_subset_size).view_as(x)
out.numpy().astype('<f4').tofile(d + '/out.bin')
`,
    [dir],
  );
  const want = new Float32Array((await readFile(join(dir, 'out.bin'))).buffer.slice(0));
  const got = await runSubsetGraph(x, [B, N, D], d);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-6 * Math.max(1, Math.abs(want[i]!)), `${i}: ${v} vs torch ${want[i]}`));
});

test('addResidualOnSubset differentiates: dropped rows get only the identity path (float64 host reference)', async () => {
  const B = 5;
  const N = 2;
  const rng = new Rng(31);
  const d = sampleSubset(rng, B, 0.4);
  const x = Float32Array.from({ length: B * N * D }, () => rng.normal());
  const g = new GraphBuilder('drop_path_grad');
  const xi = g.input('x', 'float32', ['B', N, D]);
  const wi = g.input('w', 'float32', [D, D]);
  const y = addResidualOnSubset(xi, (v) => op.matmul(v, wi), g.input('indices', 'int64', ['S']), g.input('inverse', 'int64', ['B']), g.input('scale', 'float32', [1]));
  const grads = gradients(g, op.reduceSum(op.mul(y, y), [0, 1, 2], true), [xi, wi]);
  g.output('gx', grads.get('x')!);
  g.output('gw', grads.get('w')!);
  const session = await compileGraph(g.build());
  let r;
  try {
    r = await session.run({ x: Tensor.float32(x, [B, N, D]), w: Tensor.float32(W, [D, D]), ...subsetInputs(d) });
  } finally {
    await session.dispose();
  }
  // L = Σ y², y = x + k·s·(x W) with k = 1 on kept rows: dL/dx = 2y + k·s·(2y) Wᵀ, dL/dW = s Σ_kept xᵀ(2y).
  const gx = new Float64Array(B * N * D);
  const gw = new Float64Array(D * D);
  for (let b = 0; b < B; b++) {
    const k = d.indices.includes(b) ? d.scale : 0;
    for (let n = 0; n < N; n++) {
      const row = (b * N + n) * D;
      const yv = Array.from({ length: D }, (_, j) => {
        let r2 = 0;
        for (let i = 0; i < D; i++) r2 += x[row + i]! * W[i * D + j]!;
        return x[row + j]! + k * r2;
      });
      for (let i = 0; i < D; i++) {
        let back = 0;
        for (let j = 0; j < D; j++) back += 2 * yv[j]! * W[i * D + j]!;
        gx[row + i] = 2 * yv[i]! + k * back;
        for (let j = 0; j < D; j++) gw[i * D + j] += k * x[row + i]! * 2 * yv[j]!;
      }
    }
  }
  const close = (got: Float32Array, want: Float64Array, what: string) =>
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${v} vs ${want[i]}`));
  close(r['gx']!.data as Float32Array, gx, 'dL/dx');
  close(r['gw']!.data as Float32Array, gw, 'dL/dW');
});
