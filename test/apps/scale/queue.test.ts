/**
 * The job queue on a real redis-server (started here on 127.0.0.1, skipped only when the binary is
 * missing): three worker processes, one SIGKILLed in the middle of a job; the stalled job is recovered by
 * another worker, every image ends up in the collection exactly once, and the embeddings equal a
 * single-process run. Also: retries with backoff end in 'failed' with the attempts counted, and the CLI.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as lancedb from '@lancedb/lancedb';
import { processEmbedJob, queueStatus, submitImages } from '../../../src/apps/scale/queue.js';
import { embedFilesNormalized } from '../../../src/apps/retrieval/embedFiles.js';
import { contentHash, imageId } from '../../../src/apps/scale/collection.js';
import { modelKey } from '../../../src/apps/retrieval/indexImages.js';
import { loadBackbone } from '../../../src/models/load.js';
import { readFile } from 'node:fs/promises';
import { cli } from '../../eval/captureCli.js';
import { CONFORMANCE_DIR, REPO_ROOT, withTempDir } from '../../helpers.js';
import { writeDistinct } from '../retrieval/images.js';
import { redisMissing, startRedis } from './redis.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const HERE = dirname(fileURLToPath(import.meta.url));
const skip = redisMissing();

interface Proc {
  child: ChildProcess;
  events: Record<string, unknown>[];
  waiters: ((e: Record<string, unknown>) => void)[];
}

function startWorker(url: string, id: string, pauseMs: number): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'workerProcess.ts'), url, MODEL, id, String(pauseMs)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, events: [], waiters: [] };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    p.events.push(e);
    for (const w of p.waiters) w(e);
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') console.error(`worker ${id} exited ${code} ${signal}: ${err}`);
  });
  return p;
}

function waitFor(p: Proc, pred: (e: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>> {
  const seen = p.events.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    p.waiters.push((e) => {
      if (pred(e)) {
        clearTimeout(t);
        resolve(e);
      }
    });
  });
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 15000);
  await exited;
  clearTimeout(t);
}

test('three workers, one SIGKILLed mid-job: every image exactly once, embeddings equal one process', { skip, timeout: 240000 }, async () => {
  const redis = await startRedis();
  const workers: Proc[] = [];
  try {
    await withTempDir(async (dir) => {
      const images = join(dir, 'images');
      await mkdir(images);
      const N = 24;
      const paths: string[] = [];
      for (let i = 0; i < N; i++) {
        const p = join(images, `img${String(i).padStart(2, '0')}.${i % 3 ? 'jpg' : 'png'}`);
        await writeDistinct(p, i, N);
        paths.push(p);
      }
      const db = join(dir, 'collection');
      for (const id of ['w0', 'w1', 'w2']) workers.push(startWorker(redis.url, id, 150));
      await Promise.all(workers.map((w) => waitFor(w, (e) => e['event'] === 'ready', 60000, 'worker ready')));

      const submitted = await submitImages(paths, { queue: redis.url, db, size: 112, batchSize: 4, backoffMs: 100 });
      assert.equal(submitted.jobs, 6);

      // Kill the first worker that is half-way through a job.
      const victim = await Promise.race(workers.map((w) => waitFor(w, (e) => e['event'] === 'progress' && e['done'] === 2, 60000, 'a job in progress').then((e) => ({ w, e }))));
      victim.w.child.kill('SIGKILL');
      const killedJob = victim.e['job'] as string;

      // Progress is visible across workers while the rest runs; wait for all six jobs.
      const end = Date.now() + 150000;
      let status = await queueStatus(redis.url);
      while (status.completed < 6 && Date.now() < end) {
        assert.equal(status.failed, 0, JSON.stringify(status.failedJobs));
        await new Promise((r) => setTimeout(r, 250));
        status = await queueStatus(redis.url);
      }
      assert.equal(status.completed, 6, JSON.stringify(status));
      assert.deepEqual(status.images, { total: N, done: N });
      // The killed job was finished by a surviving worker.
      const survivors = workers.filter((w) => w !== victim.w);
      assert.ok(survivors.some((w) => w.events.some((e) => e['event'] === 'done' && e['job'] === killedJob)), `job ${killedJob} recovered`);
      await Promise.all(survivors.map(stop));

      const table = await (await lancedb.connect(db)).openTable('images');
      const rows = await table.query().toArray();
      assert.equal(rows.length, N);
      assert.equal(new Set(rows.map((r) => r.id as string)).size, N);
      assert.deepEqual(rows.map((r) => r.path as string).sort(), paths);
      for (const r of rows) assert.equal(r.id, imageId(contentHash(await readFile(r.path as string)), r.path as string));

      const model = await loadBackbone(MODEL);
      try {
        const ref = await embedFilesNormalized(paths, { model, size: 112 });
        const byPath = new Map(rows.map((r) => [r.path as string, Array.from(r.embedding as ArrayLike<number>)]));
        ref.paths.forEach((p, i) => assert.deepEqual(byPath.get(p), Array.from(ref.embeddings.subarray(i * ref.dim, (i + 1) * ref.dim)), p));
        // A job delivered again (a worker killed after its write, before its acknowledgement) adds nothing.
        const again = await processEmbedJob({ paths: paths.slice(0, 8), db, table: 'images', size: 112 }, { model, key: await modelKey(model) });
        assert.equal(again.written, 8);
        await table.checkoutLatest();
        assert.equal(await table.countRows(), N);
        assert.equal(new Set((await table.query().select(['path']).toArray()).map((r) => r.path as string)).size, N);
        // A worker with another model is refused instead of mixing embedding spaces.
        await assert.rejects(processEmbedJob({ paths: paths.slice(0, 1), db, table: 'images', size: 112 }, { model, key: 'another-model' }), /holds embeddings of another model/);
      } finally {
        await model.dispose();
      }
    });
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await redis.stop();
  }
});

test('a job that keeps failing is retried with backoff, then reported failed; the CLI submits and reports status', { skip, timeout: 120000 }, async () => {
  const redis = await startRedis();
  try {
    await withTempDir(async (dir) => {
      const img = join(dir, 'a.png');
      await writeDistinct(img, 0, 2);
      // A collection path under a regular file cannot be created: every attempt throws.
      const blocker = join(dir, 'blocker');
      await writeFile(blocker, 'not a folder');
      await submitImages([img], { queue: redis.url, name: 'bad', db: join(blocker, 'db'), attempts: 3, backoffMs: 50 });
      const { runWorker } = await import('../../../src/apps/scale/queue.js');
      const model = await loadBackbone(MODEL);
      const failures: number[] = [];
      const w = await runWorker({ queue: redis.url, name: 'bad', model, onJobFailed: () => failures.push(Date.now()) });
      try {
        const end = Date.now() + 60000;
        let s = await queueStatus(redis.url, 'bad');
        while (s.failed === 0 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 100));
          s = await queueStatus(redis.url, 'bad');
        }
        assert.equal(s.failed, 1);
        assert.equal(s.failedJobs[0]!.attempts, 3);
        assert.equal(failures.length, 3);
        // Exponential backoff: 50 ms, then 100 ms between attempts.
        assert.ok(failures[1]! - failures[0]! >= 45 && failures[2]! - failures[1]! >= 95, `gaps ${failures[1]! - failures[0]!}, ${failures[2]! - failures[1]!}`);
      } finally {
        await w.close();
        await model.dispose();
      }

      const out = await cli(['submit', img, '--queue', redis.url, '--db', join(dir, 'db'), '--json']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(JSON.parse(out.stdout).jobs, 1);
      const st = await cli(['jobs', 'status', '--queue', redis.url, '--json']);
      assert.equal(st.code, 0, st.stderr);
      const parsed = JSON.parse(st.stdout);
      assert.equal(parsed.waiting, 1);
      assert.deepEqual(parsed.images, { total: 1, done: 0 });
    });
  } finally {
    await redis.stop();
  }
});

test('dinov2 worker (the command, in its own process) takes submitted jobs and stops cleanly on SIGTERM', { skip, timeout: 180000 }, async () => {
  const redis = await startRedis();
  try {
    await withTempDir(async (dir) => {
      const images = join(dir, 'images');
      await mkdir(images);
      for (let i = 0; i < 5; i++) await writeDistinct(join(images, `i${i}.jpg`), i, 5);
      const worker = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'worker', '--queue', redis.url, '--weights', MODEL, '--threads', '1', '--lock-ms', '5000'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      worker.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const out = await cli(['submit', images, '--queue', redis.url, '--db', join(dir, 'db'), '--size', '112', '--job-size', '2', '--json']);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(JSON.parse(out.stdout).jobs, 3);
      const end = Date.now() + 120000;
      let s = await queueStatus(redis.url);
      while (s.completed < 3 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 250));
        s = await queueStatus(redis.url);
      }
      assert.equal(s.completed, 3, log);
      const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
      worker.kill('SIGTERM');
      assert.equal(await exited, 0, log);
      assert.match(log, /job embed-[0-9a-f]+: 2 written/);
      const t = await (await lancedb.connect(join(dir, 'db'))).openTable('images');
      assert.equal(await t.countRows(), 5);
      const st = await cli(['jobs', 'status', '--queue', redis.url]);
      assert.match(st.stdout, /0 waiting, 0 active, 0 delayed \(retry backoff\), 3 completed, 0 failed\nimages: 5 of 5 done/);
    });
  } finally {
    await redis.stop();
  }
});
