/**
 * `node --import tsx bench/trainStep.ts [--batch 4] [--local 8] [--prototypes 65536] [--warmup 1] [--runs 2] [--no-torch] [--json FILE]
 *   [--session-options JSON]` (onnxruntime session options for our side, e.g. '{"enableCpuMemArena":false}')
 *   [--device webgpu|cuda [--no-cpu]]` (our step on that execution provider — step graph, clipping, AdamW and EMA
 *   graphs all there — and, unless --no-cpu, the same step on the CPU for the ratio; the first step's losses of
 *   both are printed side by side. Without an adapter / driver it stops at once with the device's error.)
 *
 * One DINOv2 training step — ViT-S/14 student and teacher, 2 global 224² and 8 local 98² crops per image,
 * DINO head with 65536 prototypes shared with iBOT, Sinkhorn-Knopp targets, backward, per-module clipping,
 * AdamW, EMA — timed here (`warmup` steps, the first of which also compiles the graph, then `runs` timed steps) and
 * beside it the same step in plain PyTorch (bench/workers/torch_train_step.py, OpenBLAS 2 threads, one
 * intra-op thread). Random weights; both sides use the same deterministic iBOT masks. Prints seconds per
 * step (median of the timed steps) and CPU seconds per step (less sensitive to other load on a shared
 * machine), their ratios, and the peak RSS of each process. On this project's 2-core machine the first
 * timed step after a single warm-up is slower than the next ones (onnxruntime's arena grows once more on
 * the second run); `--warmup 2` shows the steady state.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkDevice, type Device, type RuntimeOptions } from '../src/graph/runtime.js';
import { hubConfig } from '../src/models/config.js';
import { Tensor } from '../src/core/tensor.js';
import type { SslConfig, SslStepHyper } from '../src/train/ssl/sslConfig.js';
import { OFFICIAL_OPTIM, SslTrainer, createSslStore, type SslBatch } from '../src/train/ssl/sslStep.js';
import type { ParamStore } from '../src/train/optim/paramStore.js';
import { median } from './workers/protocol.js';
import { TORCH_PYTHON, cpuInfo, headerLines, load, measurePeak, torchEnv } from './anchors.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface TrainStepBenchOptions {
  batch?: number;
  local?: number;
  prototypes?: number;
  runs?: number;
  warmup?: number;
  torch?: boolean;
  /** onnxruntime session options for the step graph (our side only). */
  sessionOptions?: RuntimeOptions['sessionOptions'];
  /** Our side's execution provider (default 'cpu'). */
  device?: Device;
  /** With a GPU device: also time the same step on the CPU (default true). */
  cpuBaseline?: boolean;
}

export interface TrainStepBenchResult {
  /** Median seconds per step, dinov2-ts and PyTorch (undefined when the PyTorch worker did not run). */
  dinov2tsSeconds: number;
  /** With a GPU device and the CPU baseline: the same step's median seconds on the CPU. */
  cpuSeconds?: number;
  pytorchSeconds?: number;
  ratio?: number;
  lines: string[];
  json: unknown;
}

export const GLOBAL = 224;
export const LOCAL = 98;

// Training builds the ViT for the global crop size (img_size 224: a 16×16 position grid).
export function sslConfig(B: number, nLocal: number, K: number): SslConfig {
  return {
    backbone: { ...hubConfig('dinov2_vits14'), img_size: GLOBAL, init_values: 1e-5 },
    dinoHead: { outDim: K, hiddenDim: 2048, bottleneckDim: 256, nlayers: 3 },
    ibotHead: null,
    nImages: B,
    localCropsNumber: nLocal,
    globalCropsSize: GLOBAL,
    localCropsSize: LOCAL,
    studentTemp: 0.1,
    centering: 'sinkhorn_knopp',
    centerMomentum: 0.9,
    dinoLossWeight: 1,
    ibotLossWeight: 1,
    koleoLossWeight: 0.1,
  };
}

export const HYPER: SslStepHyper = { lr: 1e-3, wd: 0.04, lastLayerLr: 1e-3, teacherTemp: 0.07, teacherMomentum: 0.992 };

/** xorshift32 uniform values with std `std` (the scale of the official init, not its law). */
export function uniform(n: number, seed: number, std: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const half = std * Math.sqrt(3);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * half;
  }
  return out;
}

/** Half the global crops masked, ratios from the middle of [0.1, 0.5]'s bins (the torch worker does the same). */
export function benchMasks(crops: number, patches: number): Tensor<'uint8'> {
  const m = new Uint8Array(crops * patches);
  const k = Math.floor(crops / 2);
  for (let i = 0; i < k; i++) m.fill(1, i * patches, i * patches + Math.floor(patches * (0.1 + (0.4 * (i + 0.5)) / k)));
  return new Tensor('uint8', m, [crops, patches]);
}

interface SideResult {
  seconds: number[];
  /** CPU seconds (user + system) of each timed step: less sensitive than wall time to other load on the machine. */
  cpuSeconds: number[];
  peakRssBytes: number;
}

/** The bench's random store (official init scales) and its one batch, the same for every step. */
export function benchStoreAndBatch(CFG: SslConfig): { store: ParamStore; batch: SslBatch } {
  let seed = 1;
  const store = createSslStore(CFG, OFFICIAL_OPTIM, (key, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (/norm\d?\.weight$|gamma$|weight_g$/.test(key)) return new Float32Array(n).fill(1);
    if (key.endsWith('.bias') || key === 'backbone.mask_token') return undefined;
    return uniform(n, seed++, 0.02);
  });
  const random = (n: number, s: number): Float32Array => uniform(n, 1000 + s, 1);
  const N = (GLOBAL / 14) ** 2;
  const { nImages: B, localCropsNumber: N_LOCAL } = CFG;
  const batch = {
    globalCrops: Tensor.float32(random(2 * B * 3 * GLOBAL * GLOBAL, 1), [2 * B, 3, GLOBAL, GLOBAL]),
    localCrops: Tensor.float32(random(N_LOCAL * B * 3 * LOCAL * LOCAL, 2), [N_LOCAL * B, 3, LOCAL, LOCAL]),
    masks: benchMasks(2 * B, N),
  };
  return { store, batch };
}

async function ours(CFG: SslConfig, RUNS: number, WARMUP: number, runtime: RuntimeOptions): Promise<SideResult & { warmupSeconds: number[]; losses: number[]; firstLosses: Record<string, number> }> {
  const { store, batch } = benchStoreAndBatch(CFG);
  const trainer = new SslTrainer(CFG, store, { optim: OFFICIAL_OPTIM, runtime });
  try {
    let t = 0;
    const warmupSeconds: number[] = [];
    let firstLosses: Record<string, number> | undefined;
    for (let i = 0; i < WARMUP; i++) {
      t = performance.now();
      const r = await trainer.step(batch, HYPER);
      warmupSeconds.push((performance.now() - t) / 1000);
      firstLosses ??= r.losses;
    }
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      t = performance.now();
      const cpu = process.cpuUsage();
      const r = await trainer.step(batch, HYPER);
      const used = process.cpuUsage(cpu);
      seconds.push((performance.now() - t) / 1000);
      cpuSeconds.push((used.user + used.system) / 1e6);
      losses.push(r.losses.total);
      firstLosses ??= r.losses;
    }
    return { seconds, cpuSeconds, warmupSeconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, losses, firstLosses: firstLosses ?? {} };
  } finally {
    await trainer.dispose();
  }
}

function torchStep(B: number, N_LOCAL: number, K: number, RUNS: number, WARMUP: number): Partial<SideResult> & { ok: boolean; note?: string } {
  const req = { size: GLOBAL, localSize: LOCAL, nLocal: N_LOCAL, batch: B, prototypes: K, runs: RUNS, warmup: WARMUP, threads: 1 };
  const r = spawnSync(TORCH_PYTHON, [join(here, 'workers', 'torch_train_step.py'), JSON.stringify(req)], {
    env: torchEnv(),
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const last = r.stdout?.trim().split('\n').pop();
  if (r.status !== 0 || !last) return { ok: false, note: (r.stderr || r.error?.message || 'no output').trim().split('\n').slice(-3).join(' | ') };
  return JSON.parse(last);
}

const list = (xs: readonly number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** Runs both sides once and returns the report lines (also used by `npm run bench`). */
export async function trainStepBench(o: TrainStepBenchOptions = {}): Promise<TrainStepBenchResult> {
  const B = o.batch ?? 4;
  const N_LOCAL = o.local ?? 8;
  const K = o.prototypes ?? 65536;
  const RUNS = o.runs ?? 2;
  const WARMUP = o.warmup ?? 1;
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    console.log(line);
  };
  const device = o.device ?? 'cpu';
  if (device !== 'cpu') {
    try {
      await checkDevice(device);
    } catch (e) {
      throw new Error(`bench/trainStep.ts --device ${device}: ${(e as Error).message}`);
    }
  }
  say(`DINOv2 training step: ViT-S/14, batch ${B} × (2 global ${GLOBAL}² + ${N_LOCAL} local ${LOCAL}²), DINO/iBOT head ${K} prototypes${device !== 'cpu' ? `, on ${device}` : ''}`);
  const CFG = sslConfig(B, N_LOCAL, K);
  const mine = await ours(CFG, RUNS, WARMUP, { device, ...(o.sessionOptions ? { sessionOptions: o.sessionOptions } : {}) });
  const ourMedian = median(mine.seconds);
  const tag = device === 'cpu' ? 'dinov2-ts ' : `dinov2-ts ${device}`.padEnd(10);
  say(`${tag} ${ourMedian.toFixed(2)} s/step  (steps ${list(mine.seconds)}, CPU ${list(mine.cpuSeconds)} s; warm-up ${list(mine.warmupSeconds)} s incl. compile; peak RSS ${gib(mine.peakRssBytes)})`);
  let cpuSide: Awaited<ReturnType<typeof ours>> | undefined;
  if (device !== 'cpu' && o.cpuBaseline !== false) {
    cpuSide = await ours(CFG, RUNS, WARMUP, o.sessionOptions ? { sessionOptions: o.sessionOptions } : {});
    const cpuMedian = median(cpuSide.seconds);
    say(`dinov2-ts cpu ${cpuMedian.toFixed(2)} s/step  (steps ${list(cpuSide.seconds)}; warm-up ${list(cpuSide.warmupSeconds)} s incl. compile)`);
    say(`ratio cpu / ${device}: ${(cpuMedian / ourMedian).toFixed(2)}× faster on ${device}`);
    const terms = Object.keys(mine.firstLosses);
    const gap = Math.max(...terms.map((k) => Math.abs(mine.firstLosses[k]! - cpuSide!.firstLosses[k]!)));
    say(`first step's losses, ${device} vs cpu: ${terms.map((k) => `${k} ${mine.firstLosses[k]!.toFixed(6)} / ${cpuSide!.firstLosses[k]!.toFixed(6)}`).join(', ')}; max |Δ| ${gap.toExponential(2)}`);
  }
  const peer = o.torch === false ? { ok: false, note: 'skipped (--no-torch)' } : torchStep(B, N_LOCAL, K, RUNS, WARMUP);
  let pytorchSeconds: number | undefined;
  let ratio: number | undefined;
  if (peer.ok && peer.seconds) {
    pytorchSeconds = median(peer.seconds);
    ratio = ourMedian / pytorchSeconds;
    say(`PyTorch    ${pytorchSeconds.toFixed(2)} s/step  (steps ${list(peer.seconds)}, CPU ${list(peer.cpuSeconds ?? [])} s; peak RSS ${gib(peer.peakRssBytes ?? 0)})`);
    const cpuRatio = peer.cpuSeconds?.length ? median(mine.cpuSeconds) / median(peer.cpuSeconds) : NaN;
    say(`ratio dinov2-ts / PyTorch: ${ratio.toFixed(2)}× the wall time, ${cpuRatio.toFixed(2)}× the CPU time`);
  } else {
    say(`PyTorch    not run: ${peer.note}`);
  }
  const json = { config: { batch: B, local: N_LOCAL, prototypes: K, global: GLOBAL, localSize: LOCAL, runs: RUNS, warmup: WARMUP, device }, dinov2ts: mine, ...(cpuSide ? { dinov2tsCpu: cpuSide } : {}), pytorch: peer, ratio };
  return { dinov2tsSeconds: ourMedian, ...(cpuSide ? { cpuSeconds: median(cpuSide.seconds) } : {}), ...(pytorchSeconds !== undefined ? { pytorchSeconds } : {}), ...(ratio !== undefined ? { ratio } : {}), lines, json };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '4' },
      local: { type: 'string', default: '8' },
      prototypes: { type: 'string', default: '65536' },
      runs: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      'no-torch': { type: 'boolean', default: false },
      json: { type: 'string' },
      'session-options': { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      'no-cpu': { type: 'boolean', default: false },
    },
  });
  const device = values.device as Device;
  if (!['cpu', 'webgpu', 'cuda'].includes(device)) throw new Error(`--device must be cpu, webgpu or cuda, got '${values.device}'`);
  for (const l of headerLines(cpuInfo(), measurePeak())) console.log(l);
  const result = await trainStepBench({
    batch: Number(values.batch),
    local: Number(values.local),
    prototypes: Number(values.prototypes),
    runs: Number(values.runs),
    warmup: Number(values.warmup),
    torch: !values['no-torch'],
    ...(values['session-options'] ? { sessionOptions: JSON.parse(values['session-options']) as RuntimeOptions['sessionOptions'] } : {}),
    device,
    cpuBaseline: !values['no-cpu'],
  });
  console.log(`load average at the end: ${load()}`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ cpu: cpuInfo(), loadAtEnd: load(), ...(result.json as object) }, null, 2) + '\n');
}
