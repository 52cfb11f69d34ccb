import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { officialSslInit } from '../../src/train/ssl/sslInit.js';
import { trainSslOnImages, type SslImageTrainingOptions } from '../../src/train/ssl/sslImageLoop.js';
import { withTempDir } from '../helpers.js';
import { writeTrainingImages as writeImages } from '../apps/retrieval/images.js';
import { TINY_SSL } from './tinySsl.js';

const SCHEDULE = {
  lr: 1e-3, minLr: 1e-6, warmupEpochs: 0, weightDecay: 0.04, weightDecayEnd: 0.4, momentumTeacher: 0.992, finalMomentumTeacher: 1,
  teacherTemp: 0.07, warmupTeacherTemp: 0.04, warmupTeacherTempEpochs: 1, freezeLastLayerEpochs: 0, epochs: 1, epochLength: 5,
};

test('a run stopped between saves resumes from the last save and repeats the same batches (log and teacher identical)', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const files = [0, 1, 2, 3, 4, 5].map((k) => join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
    const base = (outDir: string): SslImageTrainingOptions => ({
      images: files,
      outDir,
      cfg: { ...TINY_SSL, dropPathRate: 0.2 },
      schedule: SCHEDULE,
      init: officialSslInit(TINY_SSL.backbone, 3),
      saveEvery: 2,
      seed: 9,
    });
    await trainSslOnImages(base(join(dir, 'whole')));
    // Stops after iteration 3 (saved at 2, with batch 3 already prepared ahead), then resumes.
    const crash = new Error('stopped');
    await assert.rejects(
      trainSslOnImages({ ...base(join(dir, 'split')), onIteration: (e) => { if (e.iteration === 3) throw crash; } }),
      (e) => e === crash,
    );
    const resumed = await trainSslOnImages({ ...base(join(dir, 'split')), resume: true });
    assert.equal(resumed.iterations, 5);
    const log = async (run: string) =>
      (await readFile(join(run, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => {
        const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, number>;
        return rest;
      });
    assert.deepEqual(await log(join(dir, 'split')), await log(join(dir, 'whole')));
    const teacher = (run: string) => readFile(join(run, 'teacher_backbone.safetensors'));
    assert.ok((await teacher(join(dir, 'split'))).equals(await teacher(join(dir, 'whole'))), 'the teacher backbones differ');
  });
});

test('the crops do not depend on the worker threads: 0 and 2 augmentation workers train to the same bytes', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const files = [0, 1, 2, 3, 4, 5].map((k) => join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
    const run = (outDir: string, augmentWorkers: number) =>
      trainSslOnImages({ images: files, outDir, cfg: TINY_SSL, schedule: SCHEDULE, init: officialSslInit(TINY_SSL.backbone, 3), iterations: 3, seed: 4, augmentWorkers });
    await run(join(dir, 'inline'), 0);
    await run(join(dir, 'workers'), 2);
    const teacher = (run: string) => readFile(join(run, 'teacher_backbone.safetensors'));
    assert.ok((await teacher(join(dir, 'inline'))).equals(await teacher(join(dir, 'workers'))), 'the teacher backbones differ');
  });
});
