/**
 * kill -9 at every write/rename step of a training save (fault points, see src/core/faultPoint.ts): the
 * state folder always holds the last complete save, loadable bit for bit, and a run killed mid-save resumes
 * to exactly the result of an uninterrupted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanTrainStateDir, loadTrainState, saveTrainState } from '../../src/train/ssl/checkpoint.js';
import { trainSslOnImages } from '../../src/train/ssl/sslImageLoop.js';
import { officialSslInit } from '../../src/train/ssl/sslInit.js';
import type { ParamStore } from '../../src/train/optim/paramStore.js';
import { REPO_ROOT, withTempDir } from '../helpers.js';
import { writeTrainingImages } from '../apps/retrieval/images.js';
import { killStore, KILL_RUN } from './saveKillFixtures.js';

const CHILD = join(REPO_ROOT, 'test', 'train', 'saveKillChild.ts');

function runChild(args: string[], faultPoint: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, DINOV2_FAULT_POINT: faultPoint },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function assertSameStore(got: ParamStore, want: ParamStore, what: string): void {
  assert.equal(got.iteration, want.iteration, `${what}: iteration`);
  for (const s of want.slots) {
    for (const part of ['param', 'teacherParam', 'expAvgOf', 'expAvgSqOf'] as const) {
      assert.ok(bytes(got[part](s.name)).equals(bytes(want[part](s.name))), `${what}: ${part}(${s.name}) differs`);
    }
  }
  for (const [name, b] of want.buffers) assert.ok(bytes(got.buffers.get(name)!.data).equals(bytes(b.data)), `${what}: buffer ${name} differs`);
}

// Points of the second save (the first has no older generation, so 'save:old-removed' is reached first there).
const POINTS: [string, 1 | 2][] = [
  ['save:begin@2', 1],
  ['save:tensors-written@2', 1],
  ['save:written@2', 1],
  ['save:generation-renamed@2', 1],
  ['save:pointer-written@2', 1],
  ['save:pointer-switched@2', 2],
  ['save:old-removed@1', 2],
];

test('kill -9 at each step of a save: the last complete save loads bit for bit, leftovers are cleaned', async () => {
  for (const [point, expected] of POINTS) {
    await withTempDir(async (dir) => {
      const r = await runChild(['store', dir], point);
      assert.equal(r.signal, 'SIGKILL', `${point}: the child was not killed (exit ${r.code}): ${r.stderr}`);
      await cleanTrainStateDir(dir);
      const names = await readdir(dir);
      assert.ok(!names.some((n) => n.includes('.partial-')), `${point}: leftovers ${names.join(', ')}`);
      assert.equal(names.filter((n) => n.startsWith('gen-')).length, 1, `${point}: ${names.join(', ')}`);
      const loaded = await loadTrainState(dir);
      assert.deepEqual(loaded.config, { generation: expected }, point);
      assertSameStore(loaded.store, killStore(expected), point);
      // The folder takes the next save normally.
      await saveTrainState(dir, killStore(3));
      assertSameStore((await loadTrainState(dir)).store, killStore(3), `${point}, then a save`);
    });
  }
});

test('a training run killed during a save resumes to the bytes of an uninterrupted run', async () => {
  await withTempDir(async (dir) => {
    const images = await writeTrainingImages(dir);
    const files = [0, 1, 2, 3].map((k) => join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
    const whole = join(dir, 'whole');
    await trainSslOnImages({ ...KILL_RUN, images: files, outDir: whole, init: officialSslInit(KILL_RUN.cfg.backbone, 3) });
    const log = async (run: string): Promise<unknown[]> =>
      (await readFile(join(run, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => {
        const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, number>;
        return rest;
      });
    for (const point of ['save:tensors-written@2', 'save:pointer-switched@2']) {
      const run = join(dir, point.replace(/[^a-z0-9]/g, '_'));
      const r = await runChild(['train', JSON.stringify({ outDir: run, files })], point);
      assert.equal(r.signal, 'SIGKILL', `${point}: the child was not killed (exit ${r.code}): ${r.stderr}`);
      const resumed = await trainSslOnImages({ ...KILL_RUN, images: files, outDir: run, resume: true });
      assert.equal(resumed.iterations, 3);
      assertSameStore((await loadTrainState(join(run, 'state'))).store, (await loadTrainState(join(whole, 'state'))).store, point);
      assert.deepEqual(await log(run), await log(whole), `${point}: log`);
      const teacher = (p: string): Promise<Buffer> => readFile(join(p, 'teacher_backbone.safetensors'));
      assert.ok((await teacher(run)).equals(await teacher(whole)), `${point}: the teacher backbones differ`);
    }
  });
});
