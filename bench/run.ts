/**
 * `npm run bench [-- --quick] [--json FILE] [--models vits14,vitb14] [--runs N] [--peak-gflops G]`
 *
 * dinov2-ts side by side with transformers.js (the Hugging Face ONNX export its users run) and a PyTorch
 * implementation of the same network, in one run, each implementation in its own process (so peak RSS is
 * its own). Medians of timed runs after warm-up; ratios are computed within the run. Prints a Markdown
 * table and writes JSON. Speed is never asserted in tests: this is the place to read it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { physicalCores } from '../src/graph/physicalCores.js';
import { hubConfig, type HubModelName } from '../src/models/config.js';
import { cpuInfo, headerLines, load, measurePeak, peerLooksBroken, runBenchWorker, torchBlas, type TorchBlas } from './anchors.js';
import { forwardFlops } from './flops.js';
import { trainStepBench } from './trainStep.js';
import { median, type WorkerRequest, type WorkerResult } from './workers/protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    models: { type: 'string', default: 'vits14,vitb14' },
    runs: { type: 'string' },
    'peak-gflops': { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    'no-int8': { type: 'boolean', default: false },
    repeat: { type: 'string' },
    'no-train': { type: 'boolean', default: false },
  },
});

const CPU = cpuInfo();
const PEAK = measurePeak(values['peak-gflops']);
const PEAK_GFLOPS = PEAK.gflops;
const PEER_DIR = process.env['PEER_MODEL_DIR'] ?? join(root, '.cache', 'peer-hf-onnx-dinov2-small');
const PEER_SOURCE = join(root, '..', 'shared', 'peers', 'hf-onnx-dinov2-small');

/**
 * 'transformers.js' runs as its users get it (onnxruntime's default threads); 'transformers.js, threads set'
 * passes `session_options.intraOpNumThreads` = the physical cores, what dinov2-ts sets by default — onnxruntime's
 * own default can be one thread (bench/RESULTS.md, session 6), which a ratio against it alone would hide.
 */
type Impl = 'dinov2-ts' | 'dinov2-ts int8' | 'transformers.js' | 'transformers.js, threads set' | 'PyTorch';

interface Row {
  model: string;
  size: number;
  batch: number;
  impl: Impl;
  ok: boolean;
  note?: string;
  msPerBatch?: number;
  imgPerSec?: number;
  gflops?: number;
  shareOfPeak?: number;
  peakRssMiB?: number;
  ratios?: Record<string, number>;
  /** Load average (1 min) when this implementation's last round ended. */
  load?: string;
}

function ensurePeer(): boolean {
  if (existsSync(join(PEER_DIR, 'onnx', 'model.onnx_data'))) return true;
  if (!existsSync(join(PEER_SOURCE, 'refill.mjs'))) return false;
  mkdirSync(PEER_DIR, { recursive: true });
  execFileSync(process.execPath, [join(PEER_SOURCE, 'refill.mjs'), PEER_DIR], { stdio: 'ignore' });
  return true;
}

function torchAvailable(): TorchBlas | undefined {
  if (values['no-torch']) return undefined;
  return torchBlas();
}

function runWorker(impl: Impl, req: WorkerRequest): WorkerResult {
  // PyTorch's fastest setting on this machine: OpenBLAS with one thread per core, one intra-op thread.
  const [script, request] =
    impl === 'PyTorch'
      ? ['torch_dinov2.py', JSON.stringify({ ...req, threads: 1 })]
      : impl.startsWith('transformers.js')
        ? ['transformersjs.ts', JSON.stringify(impl === 'transformers.js' ? req : { ...req, threads: physicalCores() })]
        : ['dinov2ts.ts', JSON.stringify(req)];
  return runBenchWorker<WorkerResult>(join(here, 'workers', script), request, { cwd: root, peerDir: PEER_DIR });
}

async function main(): Promise<void> {
  const quick = values.quick!;
  const hasPeer = ensurePeer();
  const blas = quick ? undefined : torchAvailable();
  const hasTorch = blas?.ok === true;
  for (const line of headerLines(CPU, PEAK, blas)) process.stderr.write(`bench: ${line}\n`);
  const models = (quick ? ['vits14'] : values.models!.split(',')).map((m) => `dinov2_${m.trim()}` as HubModelName);
  const shapes: [number, number][] = quick ? [[224, 8]] : [[224, 1], [224, 8], [518, 1]];
  const impls: Impl[] = ['dinov2-ts'];
  if (!quick && !values['no-int8']) impls.push('dinov2-ts int8');
  if (hasPeer) impls.push('transformers.js', 'transformers.js, threads set');
  if (hasTorch) impls.push('PyTorch');
  const notes: string[] = [];
  if (!hasPeer) notes.push('transformers.js skipped: the peer folder ../shared/peers/hf-onnx-dinov2-small is missing');
  if (blas && !blas.ok) notes.push(`PyTorch skipped: ${blas.refusal}`);

  const rows: Row[] = [];
  for (const model of models) {
    const cfg = hubConfig(model);
    for (const [size, batch] of shapes) {
      const flops = forwardFlops(cfg, size, size) * batch;
      const runs = values.runs ? Number(values.runs) : quick ? 4 : size > 224 || model.includes('vitb') ? 4 : 6;
      // Implementations alternate (ABAB…, reversed every other round) and every timed run of a config is
      // pooled before the median, so a neighbour's load hits all of them alike.
      const repeats = values.repeat ? Number(values.repeat) : 2;
      const pooled = new Map<Impl, { times: number[]; rss: number; note?: string; ok: boolean; load?: string }>();
      for (let round = 0; round < repeats; round++) {
        const order = round % 2 === 0 ? impls : [...impls].reverse();
        for (const impl of order) {
          const req: WorkerRequest = { model, size, batch, runs, warmup: 2, precision: impl.endsWith('int8') ? 'int8' : 'fp32' };
          process.stderr.write(`bench: ${model} ${size} b${batch} ${impl} (round ${round + 1}/${repeats}) …\n`);
          const res = runWorker(impl, req);
          process.stderr.write(`bench:   median ${res.msPerBatch ? median(res.msPerBatch).toFixed(1) : '–'} ms, load ${load()}\n`);
          const acc = pooled.get(impl) ?? { times: [], rss: 0, ok: true };
          acc.ok &&= res.ok;
          if (res.note) acc.note = res.note;
          acc.times.push(...(res.msPerBatch ?? []));
          acc.rss = Math.max(acc.rss, res.peakRssBytes ?? 0);
          acc.load = load();
          pooled.set(impl, acc);
          if (!res.ok) break;
        }
      }
      const group: Row[] = [];
      for (const impl of impls) {
        const acc = pooled.get(impl)!;
        const row: Row = { model, size, batch, impl, ok: acc.ok && acc.times.length > 0 };
        if (acc.load) row.load = acc.load;
        if (acc.note) row.note = acc.note;
        if (row.ok) {
          const ms = median(acc.times);
          row.msPerBatch = +ms.toFixed(2);
          row.imgPerSec = +((batch * 1000) / ms).toFixed(2);
          row.gflops = +(flops / ms / 1e6).toFixed(1);
          row.shareOfPeak = +(flops / ms / 1e6 / PEAK_GFLOPS).toFixed(3);
          row.peakRssMiB = Math.round(acc.rss / 2 ** 20);
        }
        group.push(row);
      }
      for (const row of group.filter((r) => r.impl.startsWith('dinov2-ts') && r.ok)) {
        row.ratios = {};
        for (const peer of group.filter((r) => !r.impl.startsWith('dinov2-ts') && r.ok)) {
          // A peer far below the machine's peak while we are well above it is a broken setup, not an anchor.
          if (peerLooksBroken(peer.shareOfPeak!, row.shareOfPeak!)) {
            peer.note = `no ratio: ${(peer.shareOfPeak! * 100).toFixed(1)} % of peak looks like a broken setup`;
            continue;
          }
          row.ratios[peer.impl] = +(row.imgPerSec! / peer.imgPerSec!).toFixed(2);
        }
      }
      rows.push(...group);
    }
  }

  const header = '| model | size | batch | implementation | ms/batch | img/s | GFLOP/s | share of peak | peak RSS MiB | ratio | load |';
  console.log('');
  for (const line of headerLines(CPU, PEAK, blas)) console.log(line);
  console.log('');
  console.log(header);
  console.log(header.replace(/[^|]/g, '-'));
  for (const r of rows) {
    const ratio = r.ratios ? Object.entries(r.ratios).map(([k, v]) => `${v}× ${k}`).join(', ') : '';
    console.log(
      r.ok
        ? `| ${r.model} | ${r.size} | ${r.batch} | ${r.impl} | ${r.msPerBatch} | ${r.imgPerSec} | ${r.gflops} | ${(r.shareOfPeak! * 100).toFixed(1)}% | ${r.peakRssMiB} | ${[ratio, r.note].filter(Boolean).join('; ')} | ${r.load ?? ''} |`
        : `| ${r.model} | ${r.size} | ${r.batch} | ${r.impl} | – | – | – | – | – | ${r.note ?? 'failed'} | ${r.load ?? ''} |`,
    );
  }
  for (const n of notes) console.log(`\nnote: ${n}`);
  // One DINOv2 training step (issue: 2×224 + 8×98 crops, batch 4, ViT-S/14, 65536 prototypes) beside PyTorch.
  let trainStep: unknown;
  if (!quick && !values['no-train']) {
    console.log('');
    trainStep = (await trainStepBench({ torch: hasTorch, warmup: 2, runs: 3 })).json;
  }
  const out = values.json ?? join(here, 'results', quick ? 'quick.json' : 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: CPU, peakGflops: PEAK_GFLOPS, peakGflops1: PEAK.gflops1, peakHow: PEAK.how, loadAtEnd: load(), torchBlas: blas, notes, rows, trainStep }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
  const ours = rows.find((r) => r.model === 'dinov2_vits14' && r.size === 224 && r.batch === 8 && r.impl === 'dinov2-ts');
  if (ours?.ok) {
    const vsTjs = ours.ratios?.['transformers.js'];
    const vsTjsThreads = ours.ratios?.['transformers.js, threads set'];
    console.log(`vits14 224 b8 fp32: ${ours.imgPerSec} img/s, ${vsTjs !== undefined ? `${vsTjs}x transformers.js` : 'transformers.js not measured'}${vsTjsThreads !== undefined ? `, ${vsTjsThreads}x transformers.js with threads set` : ''}`);
  }
}

await main();
