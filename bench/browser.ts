/**
 * dinov2-ts/web against transformers.js in the same headless Chromium, WASM backend with 2 threads, on the
 * same image: ViT-S/14 at 224, batch 1 and 8. dinov2-ts builds its graph from a random ViT-S/14 checkpoint
 * (safetensors); transformers.js runs the Hugging Face ONNX export of Dinov2Model (../shared/peers/
 * hf-onnx-dinov2-small, refilled with random weights), loaded from a local folder, fp32, device 'wasm'.
 * Each implementation runs in its own page, alternating, `--rounds` times; medians of the timed runs, as
 * wall time and as CPU time of the browser's processes (all threads; steadier than wall time when the
 * machine is shared, since time spent waiting for a core is not counted).
 * Also reports the gzip size of the dinov2-ts/web bundle (JavaScript only; the WASM binary not counted).
 *
 *   node --import tsx bench/browser.ts [--rounds 2] [--runs 5] [--json bench/results/browser.json]
 *     [--only dinov2-ts|transformers.js] [--attention standard|Attention|MultiHeadAttention] [--int8]
 *     (`--int8`: dinov2-ts with `quantization: 'int8'` — int8 Linear layers — against transformers.js fp32)
 *     [--session JSON]   (extra onnxruntime-web session options for dinov2-ts, e.g.
 *                         '{"extra":{"session":{"intra_op.allow_spinning":"0"}}}')
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { buildWeb } from '../tools/buildWeb.js';
import { startStaticServer } from '../tools/staticServer.js';
import { findChromium, PAGE_HELPERS } from '../test/web/browserHelpers.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { hubConfig } from '../src/models/config.js';
import { writeSafetensors } from '../src/formats/safetensorsWriter.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const ROUNDS = Number(arg('rounds', '2'));
const RUNS = Number(arg('runs', '5'));
const THREADS = 2;
/** dinov2-ts attention build ('MultiHeadAttention', the default on CPU, 'Attention' or 'standard'). */
const ATTENTION = arg('attention', '');
/** Extra onnxruntime-web session options for dinov2-ts (JSON). */
const SESSION = JSON.parse(arg('session', '{}')) as Record<string, unknown>;
const INT8 = process.argv.includes('--int8');
const IMPLS = arg('only', '') ? [arg('only', '')] : ['dinov2-ts', 'transformers.js'];
const root = resolve(import.meta.dirname, '..');
const shared = resolve(root, '..', 'shared');

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** CPU time (user + system, all threads) of this process's descendants — the browser's processes — in ms. */
function browserCpuMs(): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(f[1]));
      cpu.set(Number(name), (Number(f[11]) + Number(f[12])) * 10); // utime + stime, at 100 ticks/s
    } catch {
      // exited meanwhile
    }
  }
  let total = 0;
  for (const [pid, ms] of cpu) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === process.pid) {
        total += ms;
        break;
      }
    }
  }
  return total;
}

const chromiumPath = findChromium();
if (!chromiumPath) throw new Error('bench/browser.ts needs chromium (apt-get install chromium)');

const tmp = await mkdtemp(join(tmpdir(), 'dinov2-bench-browser-'));
try {
  const { outdir } = await buildWeb({ outdir: join(tmp, 'lib'), minify: true });
  const bundleFiles = ['dinov2-web.js'];
  const gz = (f: string): number => gzipSync(readFileSync(join(outdir, f)), { level: 9 }).length;
  const chunks = execFileSync('ls', [join(outdir, 'chunks')]).toString().trim().split('\n').filter((f) => f.endsWith('.js'));
  const wasmChunk = chunks.find((f) => f.startsWith('ort.wasm'))!;
  const bundle = {
    entryGzip: gz('dinov2-web.js'),
    withWasmBackendGzip: gz('dinov2-web.js') + chunks.filter((f) => !f.startsWith('ort.webgpu')).reduce((n, f) => n + gz(`chunks/${f}`), 0) + gz('ort/ort-wasm-simd-threaded.mjs'),
    allJsGzip: bundleFiles.reduce((n, f) => n + gz(f), 0) + chunks.reduce((n, f) => n + gz(`chunks/${f}`), 0) + gz('ort/ort-wasm-simd-threaded.mjs') + gz('ort/ort-wasm-simd-threaded.asyncify.mjs'),
    wasmChunk,
  };

  await writeFile(join(tmp, 'index.html'), '<!doctype html><meta charset="utf-8"><body></body>');
  const weights = randomBackboneWeights(hubConfig('dinov2_vits14'), 1);
  await writeSafetensors(join(tmp, 'vits14.safetensors'), [...weights].map(([key, w]) => ({ key, dtype: 'F32' as const, shape: w.shape, data: async () => new Float32Array((await w.source.bytes()).slice().buffer) })));
  execFileSync(process.execPath, [join(shared, 'peers/hf-onnx-dinov2-small/refill.mjs'), join(tmp, 'models/dinov2-small')]);

  const tjsDist = join(root, 'node_modules/@huggingface/transformers/dist');
  const tjsOrt = join(root, 'node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist');
  const tjsVersion = JSON.parse(readFileSync(join(root, 'node_modules/@huggingface/transformers/package.json'), 'utf8')).version as string;
  const tjsOrtVersion = JSON.parse(readFileSync(join(tjsOrt, '..', 'package.json'), 'utf8')).version as string;
  const ortVersion = JSON.parse(readFileSync(join(root, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version as string;
  const server = await startStaticServer({
    mounts: { '/lib/': outdir, '/tjs/': tjsDist, '/tjs-ort/': tjsOrt, '/conformance/': join(shared, 'conformance'), '/': tmp },
  });
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const results: Record<string, number[]> = {};
  const add = (k: string, v: number): void => void (results[k] ??= []).push(v);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const impl of IMPLS) {
        const page = await browser.newPage();
        await page.goto(`${server.url}/index.html`);
        await page.addScriptTag({ content: PAGE_HELPERS });
        // Set-up in the page (load, inputs, two warm-up runs of each segment), then each segment timed alone,
        // with the CPU time of the browser's processes (all threads) read around it.
        const isolated = await page.evaluate(
          async ({ impl, threads, attention, session, int8 }) => {
            const win = window as unknown as Record<string, unknown>;
            const imageUrl = '/conformance/images/chelsea.png';
            const blob = await (await fetch(imageUrl)).blob();
            const segments: Record<string, () => Promise<unknown>> = {};
            if (impl === 'dinov2-ts') {
              const w = await import('/lib/dinov2-web.js' as string);
              w.configureRuntime({ numThreads: threads });
              const model = await w.loadDinov2('/vits14.safetensors', { device: 'cpu', cache: false, sessionOptions: session, ...(attention ? { attentionKernel: attention } : {}), ...(int8 ? { quantization: 'int8' } : {}) });
              const x = w.evalTransform(await w.decodeImage(blob));
              const b1 = w.batchTensors([x]);
              const b8 = w.batchTensors(Array(8).fill(x));
              segments['endToEnd1'] = async () => model.forwardFeatures(w.batchTensors([w.evalTransform(await w.decodeImage(blob))]));
              segments['forward1'] = () => model.forwardFeatures(b1);
              segments['forward8'] = () => model.forwardFeatures(b8);
            } else {
              const T = await import('/tjs/transformers.min.js' as string);
              T.env.allowRemoteModels = false;
              T.env.allowLocalModels = true;
              T.env.localModelPath = '/models/';
              T.env.useBrowserCache = false;
              T.env.backends.onnx.wasm.wasmPaths = '/tjs-ort/';
              T.env.backends.onnx.wasm.numThreads = threads;
              const model = await T.AutoModel.from_pretrained('dinov2-small', { dtype: 'fp32', device: 'wasm', use_external_data_format: true });
              const processor = await T.AutoImageProcessor.from_pretrained('dinov2-small');
              const pv = (await processor(await T.RawImage.fromBlob(blob))).pixel_values;
              const one = pv.data as Float32Array;
              const eight = new Float32Array(one.length * 8);
              for (let i = 0; i < 8; i++) eight.set(one, i * one.length);
              const b8 = new T.Tensor('float32', eight, [8, 3, 224, 224]);
              segments['endToEnd1'] = async () => model({ pixel_values: (await processor(await T.RawImage.fromBlob(blob))).pixel_values });
              segments['forward1'] = () => model({ pixel_values: pv });
              segments['forward8'] = () => model({ pixel_values: b8 });
            }
            for (const run of Object.values(segments)) {
              await run();
              await run();
            }
            win['__segments'] = segments;
            return crossOriginIsolated;
          },
          { impl, threads: THREADS, attention: ATTENTION, session: SESSION, int8: INT8 },
        );
        if (!isolated) throw new Error('the bench page is not cross-origin isolated: no WASM threads');
        const medians: string[] = [];
        for (const [k, batch] of [['endToEnd1', 1], ['forward1', 1], ['forward8', 8]] as const) {
          const wall: number[] = [];
          for (let i = 0; i < RUNS; i++) {
            const cpu0 = browserCpuMs();
            const ms = await page.evaluate(async (k) => {
              const t0 = performance.now();
              await (window as unknown as { __segments: Record<string, () => Promise<unknown>> }).__segments[k]!();
              return performance.now() - t0;
            }, k);
            add(`${impl} ${k} cpu`, (browserCpuMs() - cpu0) / batch);
            add(`${impl} ${k}`, ms);
            wall.push(ms);
          }
          medians.push(`${k} ${median(wall).toFixed(0)} ms`);
        }
        console.log(`round ${round + 1} ${impl}: ${medians.join(', ')} (load ${loadavg()[0]!.toFixed(1)})`);
        await page.close();
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }

  const m = (k: string): number => median(results[k] ?? [NaN]);
  const rows = [
    ['decode + preprocess + forward, batch 1', 'endToEnd1', 1],
    ['forward, batch 1', 'forward1', 1],
    ['forward, batch 8', 'forward8', 8],
  ] as const;
  const chromiumVersion = browser.version();
  const cpu = cpus()[0]?.model ?? 'unknown';
  const lines = [
    `Chromium ${chromiumVersion} headless, WASM, ${THREADS} threads (cross-origin isolated); ViT-S/14 224, chelsea.png; ${ROUNDS} rounds × ${RUNS} timed runs, medians.`,
    `dinov2-ts/web${INT8 ? " (int8 Linear layers)" : ""}: onnxruntime-web ${ortVersion} (WASM build). transformers.js ${tjsVersion}: onnxruntime-web ${tjsOrtVersion} (its own), HF ONNX export, fp32.`,
    `CPU: ${cpu} ×${cpus().length}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}.`,
    '',
    '| what | dinov2-ts/web ms/image | transformers.js ms/image | speed-up (wall) | dinov2-ts/web CPU ms/image | transformers.js CPU ms/image | speed-up (CPU time) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      ([label, k, b]) =>
        `| ${label} | ${(m(`dinov2-ts ${k}`) / b).toFixed(1)} | ${(m(`transformers.js ${k}`) / b).toFixed(1)} | ${(m(`transformers.js ${k}`) / m(`dinov2-ts ${k}`)).toFixed(2)}× ` +
        `| ${m(`dinov2-ts ${k} cpu`).toFixed(0)} | ${m(`transformers.js ${k} cpu`).toFixed(0)} | ${(m(`transformers.js ${k} cpu`) / m(`dinov2-ts ${k} cpu`)).toFixed(2)}× |`,
    ),
    '',
    `Bundle (gzip -9, JavaScript only, WASM binaries not counted): entry ${(bundle.entryGzip / 1024).toFixed(1)} kB; ` +
      `entry + the WASM backend's chunks and onnxruntime glue (.mjs) ${(bundle.withWasmBackendGzip / 1024).toFixed(1)} kB; all JS incl. the WebGPU backend ${(bundle.allJsGzip / 1024).toFixed(1)} kB.`,
  ];
  console.log(lines.join('\n'));
  const json = arg('json', '');
  if (json) writeFileSync(json, JSON.stringify({ results, bundle, cpu, chromiumVersion, ortVersion, tjsVersion, tjsOrtVersion, loadavg: loadavg() }, null, 1));
} finally {
  await rm(tmp, { recursive: true, force: true });
}
