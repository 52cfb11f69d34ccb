/**
 * `node --import tsx bench/int8Attention.ts [--tokens 1370] [--rounds 20] [--threads 1]`
 *
 * Can int8 make ViT-S/14's attention faster on CPU? One attention (6 heads × 64, q/k/v [1, T, 384] given)
 * in the builds onnxruntime's CPU ops allow, timed alternately in one process: MultiHeadAttention (MLAS
 * flash attention, float32: what the int8 model runs), the same op with flash attention switched off, float32
 * from standard ops, and int8 products — Q·Kᵀ with q per tensor (uint8) and k per head and token (int8,
 * per-column scales of Kᵀ inside MatMulIntegerToFloat), then float32 softmax and A·V — whole, or over query
 * chunks of 1/4 and 1/8 (scores of one chunk stay in cache), and with A·V int8 too (probabilities per
 * tensor). Prints the median and fastest time per build (CPU time of the process with --threads 1, which
 * a busy machine disturbs less than wall time; wall time otherwise), the load average, and each build's
 * smallest per-token cosine to MultiHeadAttention.
 */
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Tensor } from '../src/core/tensor.js';
import { GraphBuilder, type Sym } from '../src/graph/builder.js';
import * as op from '../src/graph/ops.js';
import { compileGraph, type CompiledGraph } from '../src/graph/runtime.js';
import { cpuInfo } from './anchors.js';
import { cosineMin } from './similarity.js';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '1370' }, rounds: { type: 'string', default: '20' }, threads: { type: 'string', default: '1' } } });
const T = Number(values.tokens);
const rounds = Number(values.rounds);
const threads = Number(values.threads);
const [H, hd] = [6, 64];
const D = H * hd;

function rand(n: number, seed: number): Float32Array {
  const o = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    o[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return o;
}

const heads = (x: Sym) => op.transpose(op.reshape(x, [0, 0, H, hd]), [0, 2, 1, 3]);
const merge = (x: Sym) => op.reshape(op.transpose(x, [0, 2, 1, 3]), [0, 0, D]);

/** Symmetric int8 per last-axis row: [levels, scale [..., 1]]. */
function rowQuant(x: Sym): [Sym, Sym] {
  const g = x.g;
  const scale = op.div(op.maximum(op.reduceMax(op.abs(x), [-1], true), g.scalar(1e-30)), g.scalar(127));
  return [op.cast(op.round(op.div(x, scale)), 'int8'), scale];
}

/** softmax(q·kᵀ/√hd) as int8 products: q [B, T, D] per tensor (uint8), k per head and token (int8). */
function int8Scores(q: Sym, k: Sym): { qh: Sym; kT: Sym; qs: Sym; qz: Sym; kScale: Sym } {
  const [qq, qs, qz] = op.dynamicQuantizeLinear(q);
  const [kq, ks] = rowQuant(heads(k)); // [B, H, T, hd], [B, H, T, 1]
  const kScale = op.transpose(op.mul(ks, q.g.scalar(hd ** -0.5)), [0, 1, 3, 2]); // per column of Kᵀ
  return { qh: op.transpose(op.reshape(qq, [0, 0, H, hd]), [0, 2, 1, 3]), kT: op.transpose(kq, [0, 1, 3, 2]), qs, qz, kScale };
}

const BUILDS: Record<string, (q: Sym, k: Sym, v: Sym) => Sym> = {
  'MultiHeadAttention (flash)': (q, k, v) => op.multiHeadAttention(q, k, v, null, H),
  'MultiHeadAttention, flash off': (q, k, v) => op.multiHeadAttention(q, k, v, null, H),
  'float32, standard ops': (q, k, v) => {
    const s = op.matmul(op.mul(heads(q), q.g.scalar(hd ** -0.5)), op.transpose(heads(k), [0, 1, 3, 2]));
    return merge(op.matmul(op.softmax(s, -1), heads(v)));
  },
  'int8 Q·Kᵀ': (q, k, v) => {
    const { qh, kT, qs, qz, kScale } = int8Scores(q, k);
    return merge(op.matmul(op.softmax(op.matMulIntegerToFloat(qh, kT, qs, kScale, qz), -1), heads(v)));
  },
  'int8 Q·Kᵀ and A·V': (q, k, v) => {
    const { qh, kT, qs, qz, kScale } = int8Scores(q, k);
    const [pq, ps, pz] = op.dynamicQuantizeLinear(op.softmax(op.matMulIntegerToFloat(qh, kT, qs, kScale, qz), -1));
    const [vq, vs] = rowQuant(op.transpose(heads(v), [0, 1, 3, 2])); // per head and channel: [B, H, hd, T]
    return merge(op.matMulIntegerToFloat(pq, op.transpose(vq, [0, 1, 3, 2]), ps, op.transpose(vs, [0, 1, 3, 2]), pz));
  },
};
for (const n of [4, 8]) {
  BUILDS[`int8 Q·Kᵀ, ${n} query chunks`] = (q, k, v) => {
    const { qh, kT, qs, qz, kScale } = int8Scores(q, k);
    const vh = heads(v);
    const sizes = Array.from({ length: n }, (_, i) => Math.floor((T * (i + 1)) / n) - Math.floor((T * i) / n));
    return merge(op.concat(op.split(qh, 2, sizes).map((c) => op.matmul(op.softmax(op.matMulIntegerToFloat(c, kT, qs, kScale, qz), -1), vh)), 2));
  };
}

const feeds = { q: Tensor.float32(rand(T * D, 1), [1, T, D]), k: Tensor.float32(rand(T * D, 2), [1, T, D]), v: Tensor.float32(rand(T * D, 3), [1, T, D]) };
const names = Object.keys(BUILDS);
const sessions = new Map<string, CompiledGraph>();
for (const name of names) {
  const g = new GraphBuilder('attention');
  const [q, k, v] = (['q', 'k', 'v'] as const).map((s) => g.input(s, 'float32', [1, T, D])) as [Sym, Sym, Sym];
  g.output('y', BUILDS[name]!(q, k, v));
  // onnxruntime reads this variable when the kernel is created.
  if (name.includes('flash off')) process.env['ORT_DISABLE_FLASH_ATTENTION'] = '1';
  sessions.set(name, await compileGraph(g.build(), { threads }));
  delete process.env['ORT_DISABLE_FLASH_ATTENTION'];
}
const info = cpuInfo();
console.log(`CPU: ${info.model}, ${info.cores} cores; flags: ${info.flags.join(' ')}`);
console.log(`attention of ${T} tokens, 6 heads × 64; ${threads} intra-op thread(s); ${threads === 1 ? 'CPU' : 'wall'} ms per attention, ${rounds} alternating rounds`);
const ref = (await sessions.get(names[0]!)!.run(feeds)).y!.data as Float32Array;
const cos = new Map<string, number>();
for (const name of names) cos.set(name, cosineMin((await sessions.get(name)!.run(feeds)).y!.data as Float32Array, ref, D));
const times = new Map<string, number[]>(names.map((n) => [n, []]));
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? [...names].reverse() : names) {
    const [c, t] = [process.cpuUsage(), performance.now()];
    await sessions.get(name)!.run(feeds);
    const d = process.cpuUsage(c);
    times.get(name)!.push(threads === 1 ? (d.user + d.system) / 1000 : performance.now() - t);
  }
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log('\n| build | median ms | fastest ms | min token cosine to MultiHeadAttention |\n|---|---|---|---|');
for (const name of names) console.log(`| ${name} | ${median(times.get(name)!).toFixed(1)} | ${Math.min(...times.get(name)!).toFixed(1)} | ${cos.get(name)!.toFixed(5)} |`);
console.log(`\nload average: ${execSync('cat /proc/loadavg').toString().trim().split(' ').slice(0, 3).join(' ')}`);
for (const s of sessions.values()) await s.dispose();
