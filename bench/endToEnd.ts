/**
 * `node --import tsx bench/endToEnd.ts [--dir .cache/e2e-photos] [--batch 8] [--rounds 1] [--no-torch] [--int8] [--no-workers] [--concurrent] [--json FILE]`
 * (`--int8` adds dinov2-ts with int8 Linear layers; `--no-workers` adds dinov2-ts decoding on the calling thread;
 * `--concurrent` adds dinov2-ts with embed's `overlap: 'concurrent'` (decoding beside the model, whatever the default);
 * `--session-options JSON` adds dinov2-ts with those onnxruntime session options, e.g.
 * '{"extra":{"session":{"intra_op":{"allow_spinning":"0"}}}}')
 *
 * Images to features as users run it, on a folder of JPEGs of mixed sizes (bench/e2e/makePhotos.ts makes
 * one from real photographs when the folder is missing), ViT-S/14 at 224, CLS features, batch 8:
 * - dinov2-ts: `embedStream` — what `dinov2 embed` runs (decode ahead of the model, eval transform);
 * - transformers.js: `pipeline('image-feature-extraction')` on the Hugging Face ONNX export;
 * - PyTorch: torchvision eval transform in a 2-worker DataLoader, the ViT of bench/workers/torch_dinov2.py.
 * Each in its own process, in alternating order per round; images/s, and the breakdown: model busy time,
 * idle (wall − model: the model waiting for inputs), and the CPU time decode and transform take (measured
 * in a serial pass after the run, except transformers.js whose processor is timed in the run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuInfo, headerLines, load, measurePeak, runBenchWorker, torchBlas } from './anchors.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: join(root, '.cache', 'e2e-photos') },
    batch: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '1' },
    'no-torch': { type: 'boolean', default: false },
    int8: { type: 'boolean', default: false },
    'no-workers': { type: 'boolean', default: false },
    concurrent: { type: 'boolean', default: false },
    'session-options': { type: 'string' },
    json: { type: 'string' },
    'peak-gflops': { type: 'string' },
  },
});

interface E2eResult {
  ok: boolean;
  images?: number;
  wallMs?: number;
  modelMs?: number;
  idleMs?: number;
  decodeMs?: number;
  transformMs?: number;
  peakRssBytes?: number;
  note?: string;
  load?: string;
}

type Impl = 'dinov2-ts' | 'dinov2-ts int8' | 'dinov2-ts, no workers' | 'dinov2-ts, concurrent' | 'dinov2-ts, session options' | 'transformers.js' | 'PyTorch';
const PEER_DIR = process.env['PEER_MODEL_DIR'] ?? join(root, '.cache', 'peer-hf-onnx-dinov2-small');

function run(impl: Impl, dir: string, batch: number): E2eResult {
  const req = JSON.stringify({ dir, batch, workers: 2, precision: impl === 'dinov2-ts int8' ? 'int8' : 'fp32', ...(impl === 'dinov2-ts, no workers' ? { embedWorkers: 0 } : {}), ...(impl === 'dinov2-ts, concurrent' ? { overlap: 'concurrent' } : {}), ...(impl === 'dinov2-ts, session options' ? { sessionOptions: JSON.parse(values['session-options']!) } : {}) });
  const script = impl === 'PyTorch' ? 'torch_e2e.py' : impl === 'transformers.js' ? 'e2e_transformersjs.ts' : 'e2e_dinov2ts.ts';
  return { ...runBenchWorker<E2eResult>(join(here, 'workers', script), req, { cwd: root, peerDir: PEER_DIR, stderrLines: 3 }), load: load() };
}

async function main(): Promise<void> {
  const dir = values.dir!;
  if (!existsSync(dir) || readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).length === 0) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'e2e', 'makePhotos.ts'), '--out', dir], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) throw new Error('could not make the photo folder');
  }
  if (!existsSync(join(PEER_DIR, 'onnx', 'model.onnx_data'))) {
    mkdirSync(PEER_DIR, { recursive: true });
    spawnSync(process.execPath, [join(root, '..', 'shared', 'peers', 'hf-onnx-dinov2-small', 'refill.mjs'), PEER_DIR], { stdio: 'ignore' });
  }
  const count = readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).length;
  const batch = Number(values.batch);
  const blas = values['no-torch'] ? undefined : torchBlas();
  const header = headerLines(cpuInfo(), measurePeak(values['peak-gflops']), blas);
  for (const l of header) console.log(l);
  console.log(`${count} JPEGs in ${dir}; ViT-S/14 224, batch ${batch}, CLS features\n`);
  const impls: Impl[] = ['dinov2-ts', ...(values['no-workers'] ? (['dinov2-ts, no workers'] as Impl[]) : []), ...(values.concurrent ? (['dinov2-ts, concurrent'] as Impl[]) : []), ...(values['session-options'] ? (['dinov2-ts, session options'] as Impl[]) : []), ...(values.int8 ? (['dinov2-ts int8'] as Impl[]) : []), 'transformers.js', ...(blas?.ok ? (['PyTorch'] as Impl[]) : [])];
  const results: { round: number; impl: Impl; r: E2eResult }[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 === 0 ? impls : [...impls].reverse();
    for (const impl of order) {
      process.stderr.write(`e2e: ${impl} (round ${round + 1}) …\n`);
      const r = run(impl, dir, batch);
      process.stderr.write(`e2e:   ${r.ok ? `${((r.images! * 1000) / r.wallMs!).toFixed(2)} img/s` : r.note}, load ${r.load}\n`);
      results.push({ round, impl, r });
    }
  }
  console.log('| round | implementation | img/s | wall s | model s | idle s | decode CPU s | transform CPU s | peak RSS MiB | ratio | load |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const s = (ms?: number) => (ms === undefined ? '–' : (ms / 1000).toFixed(1));
  for (const { round, impl, r } of results) {
    if (!r.ok) {
      console.log(`| ${round + 1} | ${impl} | – | – | – | – | – | – | – | ${r.note} | ${r.load} |`);
      continue;
    }
    const ips = (r.images! * 1000) / r.wallMs!;
    const peer = results.find((x) => x.round === round && x.impl === 'transformers.js' && x.r.ok);
    const ratio = impl !== 'transformers.js' && peer ? `${(ips / ((peer.r.images! * 1000) / peer.r.wallMs!)).toFixed(2)}× transformers.js` : '';
    console.log(
      `| ${round + 1} | ${impl} | ${ips.toFixed(2)} | ${s(r.wallMs)} | ${s(r.modelMs)} | ${s(r.idleMs)} | ${s(r.decodeMs)} | ${s(r.transformMs)} | ${Math.round(r.peakRssBytes! / 2 ** 20)} | ${ratio} | ${r.load} |`,
    );
  }
  const out = values.json ?? join(here, 'results', 'e2e-latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), header, cpu: cpuInfo(), torchBlas: blas, dir, count, batch, results }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

await main();
