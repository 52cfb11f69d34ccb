/**
 * `node --import tsx bench/scale.ts [--model dinov2_vits14|tiny] [--images 96] [--job-size 8] [--empty-jobs 100]`
 *
 * The job queue on this machine: a redis-server on 127.0.0.1, N = 1 and 2 worker processes with one
 * onnxruntime thread each, the same generated 224×224 JPEGs submitted as jobs of --job-size images into a
 * fresh LanceDB collection. Reported: images/s from the submit to the last job done (workers are started
 * and warmed up before), and the coordinator overhead per job — a worker processing --empty-jobs jobs
 * with no images (queue fetch, lock, opening the collection, completion), in ms per job.
 * Needs redis-server. Random weights for dinov2_vits14 (speed only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer, connect } from 'node:net';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { queueStatus, submitImages } from '../src/apps/scale/queue.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'dinov2_vits14' }, images: { type: 'string', default: '96' }, 'job-size': { type: 'string', default: '8' }, 'empty-jobs': { type: 'string', default: '100' } } });
const M = Number(values.images);
const jobSize = Number(values['job-size']);

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function startWorker(url: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'scaleWorker.ts'), url, values.model!, '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((res) => createInterface({ input: child.stdout! }).on('line', (l) => l.includes('"ready"') && res()));
  return { child, ready };
}

async function waitDone(url: string, name: string, jobs: number): Promise<void> {
  for (;;) {
    const s = await queueStatus(url, name);
    if (s.failed > 0) throw new Error(JSON.stringify(s.failedJobs));
    if (s.completed >= jobs) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const work = await mkdtemp(join(tmpdir(), 'dinov2-scale-bench-'));
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', work, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
try {
  for (let t = 0; t < 100; t++) {
    const ok = await new Promise<boolean>((r) => {
      const c = connect(port, '127.0.0.1', () => (c.end(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const dir = join(work, 'images');
  await mkdir(dir);
  const paths: string[] = [];
  for (let i = 0; i < M; i++) {
    const p = join(dir, `img${i}.jpg`);
    const px = Buffer.alloc(224 * 224 * 3, 0).map((_, k) => ((k * (i + 3)) >> 6) & 255);
    await writeFile(p, await sharp(px, { raw: { width: 224, height: 224, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    paths.push(p);
  }
  const results: Record<string, unknown>[] = [];
  for (const n of [1, 2, 1, 2]) {
    const workers = Array.from({ length: n }, () => startWorker(url));
    await Promise.all(workers.map((w) => w.ready));
    const name = 'dinov2-embed';
    const before = loadavg()[0];
    const t0 = performance.now();
    const r = await submitImages(paths, { queue: url, db: join(work, `db-${n}-${results.length}`), batchSize: jobSize });
    await waitDone(url, name, r.jobs);
    const s = (performance.now() - t0) / 1000;
    results.push({ workers: n, images: M, jobs: r.jobs, seconds: +s.toFixed(2), imagesPerS: +(M / s).toFixed(2), load1Before: before });
    console.log(JSON.stringify(results.at(-1)));
    // Clean the queue for the next round.
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    const conn = new Redis(url, { maxRetriesPerRequest: null });
    const q = new Queue(name, { connection: conn });
    await q.obliterate({ force: true });
    await q.close();
    conn.disconnect();
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((res) => w.child.once('exit', res))));
  }
  // Coordinator overhead: empty jobs through one worker.
  const E = Number(values['empty-jobs']);
  const w = startWorker(url);
  await w.ready;
  const none: string[] = [];
  const t0 = performance.now();
  const { Queue } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const q = new Queue('dinov2-embed', { connection: conn });
  await q.addBulk(Array.from({ length: E }, (_, i) => ({ name: 'embed', data: { paths: none, db: join(work, 'db-empty'), table: 'images', size: 224 }, opts: { jobId: `empty-${i}` } })));
  await waitDone(url, 'dinov2-embed', E);
  const overheadMs = (performance.now() - t0) / E;
  await q.close();
  conn.disconnect();
  w.child.kill('SIGTERM');
  await new Promise((res) => w.child.once('exit', res));
  const out = { cpu: cpus()[0]?.model, cores: cpus().length, model: values.model, jobSize, rounds: results, emptyJobs: E, coordinatorOverheadMsPerJob: +overheadMs.toFixed(2), load1After: loadavg()[0] };
  console.log(JSON.stringify(out, null, 1));
  await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
  await writeFile(join(import.meta.dirname, 'results', 'scale.json'), JSON.stringify(out, null, 1));
} finally {
  redis.kill('SIGTERM');
  await rm(work, { recursive: true, force: true });
}
