/**
 * `node --import tsx bench/serve.ts [--duration 20] [--levels 1,8,32,128] [--max-batch 32] [--max-wait-ms 5]
 *   [--max-queue 128] [--threads N]`
 *
 * Load test of `dinov2 serve` on 127.0.0.1 with autocannon: POST /v1/embeddings, one 224×224 JPEG per
 * request (eval transform at 224), ViT-S/14 with RANDOM weights (randomBackboneWeights written to a temporary
 * checkpoint: the speed of the architecture without a download; the numbers do not depend on the values).
 *  1. Offline baseline: `embed()` on the same image at batch = max-batch (decode + transform + model), and
 *     the model alone (forwardFeatures on a ready batch).
 *  2. The server in a child process; closed-loop clients at each level for `duration` s: throughput,
 *     p50/p95/p99 latency (from every response time), batch sizes seen (/metrics histogram deltas).
 *  3. Overload: open loop (fetch on a schedule) at 4 × the best sustainable rate → 503 share, p99 of accepted requests, peak RSS
 *     of the server (VmHWM); then recovery: one client for 5 s must get only 200s at normal latency.
 * Everything is bounded (levels × duration + 2 × duration + 5 s + setup), 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import autocannon from 'autocannon';
import { hubConfig } from '../src/models/config.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelByNameOrPath } from '../src/hub/loadModel.js';
import { writeSafetensors } from '../src/formats/safetensorsWriter.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { embed } from '../src/apps/embed.js';
import { embedTransform } from '../src/data/imagePipeline.js';
import { batchTensors } from '../src/data/transforms.js';
import { decodeImage } from '../src/data/decode.js';

const { values } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    duration: { type: 'string', default: '20' },
    levels: { type: 'string', default: '1,8,32,128' },
    'max-batch': { type: 'string', default: '32' },
    'max-wait-ms': { type: 'string', default: '5' },
    'max-queue': { type: 'string', default: '128' },
    threads: { type: 'string' },
    weights: { type: 'string' },
  },
});
const maxBatch = Number(values['max-batch']);
const maxWaitMs = Number(values['max-wait-ms']);
const threads = values.threads ? Number(values.threads) : undefined;
const cfg = hubConfig('dinov2_vits14');

/** Random ViT-S/14 weights as a checkpoint file, so that the server can load them on its inference thread. */
async function writeRandomWeights(): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'dinov2-serve-bench-')), 'vits14-random.safetensors');
  const items = [];
  for (const [key, w] of randomBackboneWeights(cfg, 0)) {
    const bytes = await w.source.bytes();
    items.push({ key, dtype: 'F32' as const, shape: [...w.shape], data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) });
  }
  await writeSafetensors(path, items);
  return path;
}

if (values.child) {
  // The server process: prints its URL, runs until killed.
  const { serve } = await import('../src/serve/server.js');
  const running = await serve({
    models: [{ id: 'vits14', source: 'dinov2_vits14', weights: values.weights! }],
    ...(threads ? { threads } : {}),
    port: 0,
    logLevel: 'warn',
    maxBatch,
    maxWaitMs,
    maxQueue: Number(values['max-queue']),
    preload: true,
    handleSignals: true,
  });
  while (!(await fetch(`${running.url}/ready`)).ok) await new Promise((r) => setTimeout(r, 200));
  console.log(`URL ${running.url}`);
} else {
  await main();
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function testImage(): Promise<Buffer> {
  const W = 256;
  const raw = Buffer.alloc(W * W * 3);
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) raw.set([x, y, (x * y) % 256], (y * W + x) * 3);
  return sharp(raw, { raw: { width: W, height: W, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** Sum and count of dinov2_batch_size from /metrics, and the bucket counts. */
async function batchStats(url: string): Promise<{ sum: number; count: number; buckets: Map<string, number> }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const buckets = new Map<string, number>();
  for (const m of text.matchAll(/dinov2_batch_size_bucket\{le="([^"]+)",model="vits14"\} (\d+)/g)) buckets.set(m[1]!, Number(m[2]));
  return { sum: num(/dinov2_batch_size_sum\{model="vits14"\} ([\d.e+]+)/), count: num(/dinov2_batch_size_count\{model="vits14"\} (\d+)/), buckets };
}

interface LoadResult {
  requests: number;
  ok: number;
  rejected: number;
  other: number;
  seconds: number;
  latencies: number[];
}

function load(url: string, body: string, opts: { connections: number; duration: number; overallRate?: number }): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let ok = 0;
    let rejected = 0;
    let other = 0;
    const started = performance.now();
    const inst = autocannon(
      {
        url: `${url}/v1/embeddings`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections: opts.connections,
        duration: opts.duration,
        timeout: 120,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
      },
      (err: Error | null) => {
        if (err) reject(err);
        else resolve({ requests: ok + rejected + other, ok, rejected, other, seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) });
      },
    );
    inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status === 200) {
        ok++;
        latencies.push(ms);
      } else if (status === 503) rejected++;
      else other++;
    });
  });
}

/** Open-loop load: `rate` requests per second for `seconds`, each on its own (undici pools the sockets). */
async function openLoop(url: string, body: string, rate: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  let rejected = 0;
  let other = 0;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  const n = Math.round(rate * seconds);
  for (let i = 0; i < n; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    inflight.push(
      fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (r) => {
          await r.arrayBuffer();
          if (r.status === 200) {
            ok++;
            latencies.push(performance.now() - t0);
          } else if (r.status === 503) rejected++;
          else other++;
        },
        () => {
          other++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  return { requests: n, ok, rejected, other, seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  const duration = Number(values.duration);
  const levels = values.levels!.split(',').map(Number);
  const jpeg = await testImage();
  const body = JSON.stringify({ model: 'vits14', input: [jpeg.toString('base64')] });
  console.log(`CPU: ${cpus()[0]?.model} × ${cpus().length}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // 1. Offline baseline at batch = maxBatch.
  const weights = await writeRandomWeights();
  const model = await loadModelByNameOrPath('dinov2_vits14', { weights, ...(threads ? { threads } : {}) });
  const images = Array.from({ length: 2 * maxBatch }, () => new Uint8Array(jpeg));
  await embed(images.slice(0, maxBatch), { model, size: 224, batch: maxBatch }); // warm-up (session build)
  let t = performance.now();
  await embed(images, { model, size: 224, batch: maxBatch });
  const offlineEmbed = images.length / ((performance.now() - t) / 1000);
  const rgb = await decodeImage(new Uint8Array(jpeg));
  const batch = batchTensors(Array.from({ length: maxBatch }, () => embedTransform({ size: 224 }, 14)(rgb)));
  t = performance.now();
  await model.forwardFeatures(batch);
  const batchSeconds = (performance.now() - t) / 1000;
  await model.dispose();
  console.log(`offline embed() at batch ${maxBatch}: ${offlineEmbed.toFixed(1)} images/s; one forward of ${maxBatch}: ${batchSeconds.toFixed(2)} s (${(maxBatch / batchSeconds).toFixed(1)} images/s)`);

  // 2. The server.
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', '--max-batch', String(maxBatch), '--max-wait-ms', String(maxWaitMs), '--max-queue', values['max-queue']!, '--weights', weights, ...(threads ? ['--threads', String(threads)] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /URL (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
  try {
    await load(url, body, { connections: 4, duration: 3 }); // warm-up
    const rows: string[] = [];
    let best = 0;
    for (const c of levels) {
      const before = await batchStats(url);
      const r = await load(url, body, { connections: c, duration });
      const after = await batchStats(url);
      const rate = r.ok / r.seconds;
      best = Math.max(best, rate);
      const nBatches = after.count - before.count;
      const meanBatch = (after.sum - before.sum) / Math.max(1, nBatches);
      const dist = [...after.buckets].map(([le, n]) => [le, n - (before.buckets.get(le) ?? 0)] as const);
      let prev = 0;
      const seen = dist
        .map(([le, n]) => {
          const d = n - prev;
          prev = n;
          return d > 0 ? `≤${le}: ${d}` : '';
        })
        .filter(Boolean)
        .join(', ');
      const row = `| ${c} | ${rate.toFixed(1)} | ${percentile(r.latencies, 50).toFixed(0)} | ${percentile(r.latencies, 95).toFixed(0)} | ${percentile(r.latencies, 99).toFixed(0)} | ${meanBatch.toFixed(1)} (${seen}) | ${r.rejected} | ${((100 * rate) / offlineEmbed).toFixed(0)} % |`;
      rows.push(row);
      console.log(row);
    }
    console.log('| clients | images/s | p50 ms | p95 ms | p99 ms | mean batch (batches by size) | 503s | vs offline embed |');
    console.log(rows.join('\n'));

    // 3. Overload at 4 × the best sustainable rate (open loop: requests leave on schedule, whatever the
    // answers), then recovery.
    const rate = Math.ceil(4 * best);
    const o = await openLoop(url, body, rate, duration);
    const rss = peakRssMiB(child.pid!);
    console.log(
      `overload: offered ${rate} req/s for ${duration} s (open loop) → ${o.ok} ok (${(o.ok / o.seconds).toFixed(1)}/s over ${o.seconds.toFixed(0)} s), ${o.rejected} × 503, ${o.other} other; ` +
        `accepted p50 ${percentile(o.latencies, 50).toFixed(0)} ms, p99 ${percentile(o.latencies, 99).toFixed(0)} ms; server peak RSS ${rss.toFixed(0)} MiB`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const rec = await load(url, body, { connections: 1, duration: 5 });
    console.log(`recovery (1 client, 5 s): ${rec.ok} ok, ${rec.rejected} × 503, ${rec.other} other, p50 ${percentile(rec.latencies, 50).toFixed(0)} ms, p99 ${percentile(rec.latencies, 99).toFixed(0)} ms`);
    console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    child.kill('SIGTERM');
  }
}
