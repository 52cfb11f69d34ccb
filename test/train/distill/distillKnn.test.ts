/**
 * End to end on generated images: a tiny student (32-wide, 2 blocks, official initialisation) distilled
 * from a tiny frozen teacher (the conformance suite's 48-wide, 3-block model) reaches close to the
 * teacher's k-NN accuracy on four classes of generated patterns, from near chance; the numbers are
 * printed (docs/TRAINING.md quotes them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodePng } from '../../../src/formats/png.js';
import { openWeights } from '../../../src/formats/open.js';
import { detectConfig } from '../../../src/models/load.js';
import { Rng } from '../../../src/core/rng.js';
import { distill } from '../../../src/train/distill/distill.js';
import { trainingKnn } from '../../../src/apps/trainingKnn.js';
import { Dinov2 } from '../../../src/models/dinov2.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';

const TEACHER = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const CLASSES = ['horizontal', 'vertical', 'diagonal', 'checker'] as const;

/** Each class's colour, jittered per image (a random teacher's CLS token mostly sees colour and layout). */
const COLOURS: Record<(typeof CLASSES)[number], number[]> = { horizontal: [200, 60, 60], vertical: [60, 200, 60], diagonal: [60, 60, 200], checker: [200, 200, 60] };

/** A 56-pixel RGB pattern of its class with a random period, phase, jittered colour and noise. */
function pattern(kind: (typeof CLASSES)[number], rng: Rng): Uint8Array {
  const S = 56;
  const period = 6 + rng.int(0, 8);
  const phase = rng.int(0, period);
  const a = COLOURS[kind].map((v) => v + rng.int(-50, 51));
  const b = a.map((v) => v / 3);
  const px = new Uint8Array(S * S * 3);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const t = kind === 'horizontal' ? y : kind === 'vertical' ? x : kind === 'diagonal' ? x + y : 0;
      const on = kind === 'checker' ? (Math.floor((x + phase) / period) + Math.floor(y / period)) % 2 === 0 : Math.floor((t + phase) / period) % 2 === 0;
      for (let c = 0; c < 3; c++) px[(y * S + x) * 3 + c] = Math.max(0, Math.min(255, (on ? a[c]! : b[c]!) + rng.int(-20, 21)));
    }
  }
  return px;
}

async function writeSplit(dir: string, perClass: number, seed: number): Promise<string[]> {
  const rng = new Rng(seed);
  const files: string[] = [];
  for (const kind of CLASSES) {
    await mkdir(join(dir, kind), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const f = join(dir, kind, `${i}.png`);
      await writeFile(f, encodePng({ width: 56, height: 56, data: pattern(kind, rng), channels: 3 }));
      files.push(f);
    }
  }
  return files;
}

test('distill: a tiny student approaches its tiny teacher\'s k-NN accuracy on generated images', async () => {
  await withTempDir(async (dir) => {
    const trainFiles = await writeSplit(join(dir, 'train'), 24, 1);
    await writeSplit(join(dir, 'val'), 12, 2);
    const knn = await trainingKnn({ train: join(dir, 'train'), val: join(dir, 'val'), size: 56, ks: [10] });
    const source = await openWeights(TEACHER);
    const teacherCfg = detectConfig(source);
    const teacherWeights = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const k of source.keys()) teacherWeights.set(k, { shape: source.entry(k)!.shape, data: await source.readFloat32(k) });
    await source.close();
    const teacherAcc = (await knn.evaluate(teacherCfg, teacherWeights))['knn_top1_k10']!;

    const evals: { iteration: number; acc: number }[] = [];
    const r = await distill({
      images: trainFiles,
      outDir: join(dir, 'run'),
      teacher: TEACHER,
      student: { img_size: 56, patch_size: 14, embed_dim: 32, depth: 2, num_heads: 1 },
      batch: 8,
      globalSize: 56,
      localSize: 28,
      localCrops: 2,
      head: { outDim: 64, hiddenDim: 64, bottleneckDim: 32 },
      baseLr: 0.02,
      epochs: 60,
      epochLength: 1,
      warmupEpochs: 6,
      schedule: { warmupTeacherTempEpochs: 18, momentumTeacher: 0.9 },
      seed: 3,
      augmentWorkers: 0,
      evaluate: { every: 60, run: (w, config) => knn.evaluate(config, w) },
      onEvaluation: (iteration, e) => evals.push({ iteration, acc: e['knn_top1_k10']! }),
    });
    assert.equal(r.iterations, 60);
    assert.equal(r.teacherHeads, 'random');
    const [init, after] = [evals[0]!, evals.at(-1)!];
    assert.deepEqual([init.iteration, after.iteration], [0, 60]);
    console.log(`k-NN top-1 (k = 10, ${CLASSES.length} classes, 48 val images): teacher ${teacherAcc} %, student init ${init.acc} %, student EMA after 60 iterations ${after.acc} %`);
    assert.ok(teacherAcc >= 60, `the teacher is too weak for the test to mean anything (${teacherAcc} %)`);
    assert.ok(after.acc >= init.acc + 15, `the student did not learn: ${init.acc} → ${after.acc} %`);
    assert.ok(after.acc >= teacherAcc - 15, `the student stays far below its teacher: ${after.acc} vs ${teacherAcc} %`);
    // The final model loads as an ordinary backbone (official keys).
    const model = await Dinov2.load(r.studentBackbone);
    assert.equal(model.config.embed_dim, 32);
    await model.dispose();
  });
});
