/**
 * `node --import tsx bench/ortGemm.ts [--rounds 5] [--reps 8] [--shapes vits224b8|vits518b1|all]`
 *
 * onnxruntime's bare float32 matrix products at the shapes of the ViT-S/14 Linear layers, against the
 * measured FMA peak: where does the rest of the machine go? Each graph chains `reps` products of the same
 * shape on one input (y_i = x · W_i, weights as initializers, outputs summed so nothing is dead), and the
 * variants are run in alternating rounds in one process; the median GFLOP/s of each is printed with the
 * load average. Variants: MatMul on [M, K] and on [B, T, K]; Gemm (transB = 1, the form a Linear exports
 * to); the project's thread default (the physical cores), 1 thread and onnxruntime's own default (one
 * thread on some machines: see RESULTS "Threads"); spinning on/off.
 *
 * `--skeleton 224x8` instead times, alternately in one process, the whole ViT-S/14 (fp32) against its
 * "Linear skeleton": the same 48 products chained with nothing between them (qkv → first third → proj →
 * fc1 → fc2, per block). The skeleton is the network's floor at MLAS's speed; the network's excess over
 * it is everything that is not a Linear layer.
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/graph/builder.js';
import * as op from '../src/graph/ops.js';
import { compileGraph, type CompiledGraph, type RuntimeOptions } from '../src/graph/runtime.js';
import { Tensor } from '../src/core/tensor.js';
import { cpuInfo, headerLines, load, measurePeak } from './anchors.js';
import { hubConfig } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { forwardFlops } from './flops.js';
import { benchInput, median } from './workers/protocol.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    reps: { type: 'string', default: '6' },
    shapes: { type: 'string', default: 'vits224b8' },
    'peak-gflops': { type: 'string' },
    variants: { type: 'string' },
    skeleton: { type: 'string' },
  },
});

type Form = 'matmul2d' | 'matmul3d' | 'gemm';
interface Variant {
  name: string;
  form: Form;
  options: RuntimeOptions;
}

const VARIANTS: Variant[] = [
  { name: 'MatMul [M,K] (default: physical cores, spinning)', form: 'matmul2d', options: {} },
  { name: 'MatMul [B,T,K]', form: 'matmul3d', options: {} },
  { name: 'Gemm transB', form: 'gemm', options: {} },
  { name: 'MatMul, spinning off', form: 'matmul2d', options: { sessionOptions: { extra: { session: { intra_op: { allow_spinning: '0' } } } } as never } },
  { name: 'MatMul, 1 thread', form: 'matmul2d', options: { threads: 1 } },
  // intraOpNumThreads 0 is onnxruntime's "choose yourself": what a session gets when nobody sets it.
  { name: "MatMul, onnxruntime's own thread default", form: 'matmul2d', options: { sessionOptions: { intraOpNumThreads: 0 } } },
];

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 0.1;
  }
  return out;
}

async function build(form: Form, B: number, T: number, K: number, N: number, reps: number, options: RuntimeOptions): Promise<CompiledGraph> {
  const g = new GraphBuilder(`gemm_${form}`);
  const x = form === 'matmul3d' ? g.input('x', 'float32', [B, T, K]) : g.input('x', 'float32', [B * T, K]);
  let acc: ReturnType<typeof g.input> | null = null;
  for (let r = 0; r < reps; r++) {
    const bytes = new Uint8Array(rand(K * N, r + 1).buffer);
    let y;
    if (form === 'gemm') {
      const w = g.initializer(`w${r}`, 'float32', [N, K], { bytes: async () => bytes });
      y = op.gemmTransB(x, w, null);
    } else {
      const w = g.initializer(`w${r}`, 'float32', [K, N], { bytes: async () => bytes });
      y = op.matmul(x, w);
    }
    // Reduce each product to one number so the sum costs nothing next to the product.
    const s = g.node1('ReduceSum', [y], { keepdims: 0 }, { dtype: 'float32', shape: [] });
    acc = acc ? op.add(acc, s) : s;
  }
  g.output('y', acc!);
  return compileGraph(g.build(), options);
}

const SHAPES: Record<string, { label: string; B: number; T: number; K: number; N: number }[]> = {
  vits224b8: [
    { label: 'qkv 224 b8', B: 8, T: 257, K: 384, N: 1152 },
    { label: 'proj 224 b8', B: 8, T: 257, K: 384, N: 384 },
    { label: 'fc1 224 b8', B: 8, T: 257, K: 384, N: 1536 },
    { label: 'fc2 224 b8', B: 8, T: 257, K: 1536, N: 384 },
  ],
  vits518b1: [
    { label: 'fc1 518 b1', B: 1, T: 1370, K: 384, N: 1536 },
    { label: 'fc2 518 b1', B: 1, T: 1370, K: 1536, N: 384 },
  ],
};
SHAPES['all'] = [...SHAPES['vits224b8']!, ...SHAPES['vits518b1']!];

async function skeleton(size: number, batch: number, rounds: number, peakGflops: number): Promise<void> {
  const T = (size / 14) ** 2 + 1;
  const M = T * batch;
  const g = new GraphBuilder('skeleton');
  let x = g.input('x', 'float32', [batch, T, 384]);
  let k = 0;
  const W = (K: number, N: number) => {
    const b = new Uint8Array(rand(K * N, ++k).buffer);
    return g.initializer(`w${k}`, 'float32', [K, N], { bytes: async () => b });
  };
  for (let i = 0; i < 12; i++) {
    const qkv = op.matmul(x, W(384, 1152));
    const p = op.matmul(op.slice(qkv, -1, 0, 384), W(384, 384));
    x = op.matmul(op.matmul(p, W(384, 1536)), W(1536, 384));
  }
  g.output('y', x);
  const skel = await compileGraph(g.build());
  const cfg = hubConfig('dinov2_vits14');
  const net = new Dinov2(cfg, randomBackboneWeights(cfg, 0));
  const xin = Tensor.float32(benchInput(batch, size), [batch, 3, size, size]);
  const feed = { x: Tensor.float32(rand(M * 384, 7), [batch, T, 384]) };
  const runs: [string, () => Promise<unknown>][] = [
    ['Linear skeleton (48 MatMuls)', () => skel.run(feed)],
    ['ViT-S/14 network', () => net.forwardFeatures(xin)],
  ];
  const times: number[][] = runs.map(() => []);
  for (const [, r] of runs) await r();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < runs.length; i++) {
      const j = round % 2 ? runs.length - 1 - i : i;
      const t = performance.now();
      await runs[j]![1]();
      times[j]!.push(performance.now() - t);
    }
  }
  const linearFlop = 2 * M * 12 * (384 * 1152 + 384 * 384 + 2 * 384 * 1536);
  const netFlop = forwardFlops(cfg, size, size) * batch;
  console.log(`\n| ViT-S/14 ${size} b${batch} | ms | GFLOP/s | share of peak | load at end |\n|---|---|---|---|---|`);
  console.log(`| Linear skeleton | ${median(times[0]!).toFixed(1)} | ${(linearFlop / median(times[0]!) / 1e6).toFixed(1)} | ${((linearFlop / median(times[0]!) / 1e6 / peakGflops) * 100).toFixed(1)} % | ${load()} |`);
  console.log(`| network | ${median(times[1]!).toFixed(1)} | ${(netFlop / median(times[1]!) / 1e6).toFixed(1)} | ${((netFlop / median(times[1]!) / 1e6 / peakGflops) * 100).toFixed(1)} % | ${load()} |`);
  console.log(`network / skeleton time: ${(median(times[1]!) / median(times[0]!)).toFixed(2)}`);
  await skel.dispose();
  await net.dispose();
}

async function main(): Promise<void> {
  const peak = measurePeak(values['peak-gflops']);
  for (const l of headerLines(cpuInfo(), peak)) console.log(l);
  if (values.skeleton) {
    const [size, batch] = values.skeleton.split('x').map(Number) as [number, number];
    return skeleton(size, batch, Number(values.rounds), peak.gflops);
  }
  console.log(`onnxruntime-node ${ort.env.versions.node ?? ''}`);
  const reps = Number(values.reps);
  const rounds = Number(values.rounds);
  const variants = values.variants ? VARIANTS.filter((_, i) => values.variants!.split(',').includes(String(i))) : VARIANTS;
  console.log('\n| shape | M×K×N | variant | GFLOP/s (median) | share of peak | load at end |');
  console.log('|---|---|---|---|---|---|');
  for (const s of SHAPES[values.shapes!]!) {
    const M = s.B * s.T;
    const flop = 2 * M * s.K * s.N * reps;
    const graphs = await Promise.all(variants.map((v) => build(v.form, s.B, s.T, s.K, s.N, reps, v.options)));
    const feeds = variants.map((v) => ({ x: Tensor.float32(rand(M * s.K, 99), v.form === 'matmul3d' ? [s.B, s.T, s.K] : [M, s.K]) }));
    const times: number[][] = variants.map(() => []);
    for (let i = 0; i < variants.length; i++) await graphs[i]!.run(feeds[i]!);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i);
      for (const i of order) {
        for (let k = 0; k < 3; k++) {
          const t = performance.now();
          await graphs[i]!.run(feeds[i]!);
          times[i]!.push(performance.now() - t);
        }
      }
    }
    for (let i = 0; i < variants.length; i++) {
      const gf = flop / median(times[i]!) / 1e6;
      console.log(`| ${s.label} | ${M}×${s.K}×${s.N} | ${variants[i]!.name} | ${gf.toFixed(1)} | ${((gf / peak.gflops) * 100).toFixed(1)} % | ${load()} |`);
    }
    await Promise.all(graphs.map((g) => g.dispose()));
  }
}

await main();
