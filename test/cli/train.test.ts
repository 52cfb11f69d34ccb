import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Dinov2 } from '../../src/index.js';
import { batchTensors, evalTransform } from '../../src/data/transforms.js';
import { decodeImage } from '../../src/data/decode.js';
import { backboneStateDictShapes } from '../../src/models/stateDictShapes.js';
import { openWeights } from '../../src/formats/open.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { detectConfig } from '../../src/models/load.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { checkDevice } from '../../src/graph/runtime.js';
import { writeTrainingImages as writeImages } from '../apps/retrieval/images.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');

// Tiny settings: 28-pixel global crops (2×2 patches), 14-pixel local crops, a 16-prototype head.
const TINY = ['--global-size', '28', '--local-size', '14', '--local-crops', '2', '--batch', '2', '--prototypes', '16', '--head-hidden', '8', '--head-bottleneck', '4'];
const SCHEDULE = ['--epochs', '1', '--epoch-length', '4', '--warmup-epochs', '0', '--quiet'];

type LogLine = Record<string, number>;
const logLines = async (run: string): Promise<LogLine[]> =>
  (await readFile(join(run, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as LogLine);
const withoutTime = (l: LogLine): LogLine => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'seconds'));

test('train: from a checkpoint, 4 iterations — log, resumable state and a teacher backbone that loads and runs', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const run = join(dir, 'run');
    const r = await cli(['train', images, '--model', MODEL, '--out', run, ...TINY, ...SCHEDULE, '--save-every', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { iterations: 4, teacherBackbone: join(run, 'teacher_backbone.safetensors'), state: join(run, 'state'), skipped: [] });

    const lines = await logLines(run);
    assert.deepEqual(lines.map((l) => l['iteration']), [0, 1, 2, 3]);
    for (const l of lines) for (const k of ['total', 'dino_global_crops', 'dino_local_crops', 'ibot', 'koleo']) assert.ok(Number.isFinite(l[k]), `${k} = ${l[k]}`);
    // The schedules reach the step: the teacher momentum rises from 0.992 towards 1.
    assert.equal(lines[0]!['teacherMomentum'], 0.992);
    assert.ok(lines[3]!['teacherMomentum']! > 0.992 && lines[3]!['teacherMomentum']! < 1);

    // The teacher backbone has exactly the official keys of the starting model and moved away from it.
    const start = await openWeights(MODEL);
    const teacher = await openWeights(join(run, 'teacher_backbone.safetensors'));
    try {
      const cfg = detectConfig(start);
      assert.deepEqual(teacher.keys().sort(), [...backboneStateDictShapes(cfg).keys()].sort());
      let moved = 0;
      for (const k of teacher.keys()) {
        const [a, b] = [await start.readFloat32(k), await teacher.readFloat32(k)];
        if (a.some((v, i) => v !== b[i])) moved++;
      }
      assert.ok(moved > teacher.keys().length / 2, `only ${moved} of ${teacher.keys().length} tensors changed`);
    } finally {
      await start.close();
      await teacher.close();
    }
    const model = await Dinov2.load(join(run, 'teacher_backbone.safetensors'));
    try {
      const img = await decodeImage(join(images, 'img0.jpg'));
      const out = await model.forwardFeatures(batchTensors([evalTransform(img, { resize: 32, crop: 28 })]));
      assert.ok(out.clsToken.data.every(Number.isFinite));
    } finally {
      await model.dispose();
    }
  });
});

test('train: stopping after 2 iterations and resuming gives the same 4 iterations as one run (sampler, crops and masks included)', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const whole = join(dir, 'whole');
    const split = join(dir, 'split');
    assert.equal((await cli(['train', images, '--model', MODEL, '--out', whole, ...TINY, ...SCHEDULE])).code, 0);
    const first = await cli(['train', images, '--model', MODEL, '--out', split, ...TINY, ...SCHEDULE, '--stop-after', '2']);
    assert.equal(first.code, 0, first.stderr);
    const second = await cli(['train', images, '--model', MODEL, '--out', split, ...TINY, ...SCHEDULE, '--resume']);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual((await logLines(split)).map(withoutTime), (await logLines(whole)).map(withoutTime));
    assert.ok((await readFile(join(split, 'teacher_backbone.safetensors'))).equals(await readFile(join(whole, 'teacher_backbone.safetensors'))), 'the teacher backbones differ');

    // Resuming with other settings is refused, naming the state folder.
    const other = await cli(['train', images, '--model', MODEL, '--out', split, ...TINY, ...SCHEDULE, '--resume', '--batch', '3']);
    assert.equal(other.code, 1);
    // …saying which setting differs.
    assert.match(other.stderr, /state: the saved run has another configuration — cfg\.nImages: saved 2, now 3/);
    // So is resuming on another image list (the saved sampler's indices would point at other files).
    const fewer = [0, 1, 2, 3, 4].map((k) => join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
    const moved = await cli(['train', ...fewer, '--model', MODEL, '--out', split, ...TINY, ...SCHEDULE, '--resume']);
    assert.equal(moved.code, 1);
    assert.match(moved.stderr, /another configuration — images\.count: saved \d+, now 5/);
  });
});

test('train: an unreadable image is skipped and reported, training goes on, exit status 1; bad sizes are refused up front', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    await writeFile(join(images, 'broken.jpg'), (await readFile(join(images, 'img0.jpg'))).subarray(0, 300));
    const run = join(dir, 'run');
    const r = await cli(['train', images, '--model', MODEL, '--out', run, ...TINY, ...SCHEDULE, '--iterations', '3']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /skipped .*broken\.jpg: cannot decode the image/);
    assert.deepEqual(JSON.parse(r.stdout).skipped, [join(images, 'broken.jpg')]);
    assert.equal((await logLines(run)).length, 3);

    const bad = await cli(['train', images, '--model', MODEL, '--out', join(dir, 'bad'), ...TINY, ...SCHEDULE, '--global-size', '30']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--global-size 30 is not a multiple of the patch size 14 \(nearest: 28\)/);
    // Refused before any checkpoint is read: a missing --model file would otherwise be the first complaint.
    const early = (extra: string[]) => cli(['train', images, '--model', join(dir, 'missing.pth'), '--out', join(dir, 'bad'), ...TINY, ...SCHEDULE, ...extra]);
    assert.match((await early(['--epochs', '0'])).stderr, /--epochs 0 × --epoch-length 4 gives no iterations/);
    assert.match((await early(['--epochs', '0.3'])).stderr, /--epochs 0.3 \/ --epoch-length 4 \/ --warmup-epochs 0: /);
    assert.match((await early(['--batch', '9'])).stderr, /--batch 9 needs at least 9 images, found 7/);
    assert.match((await early(['--drop-path', '1'])).stderr, /--drop-path must be below 1, got 1/);
  });
});

const lrOf = (l: LogLine): number => l['lr']!;

test('train: --iterations shorter than the schedule fits the schedule to the run (warm-up included) and prints it (#13 item 2)', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const run = join(dir, 'run');
    // The official schedule: 100 epochs × 1250 iterations, 10 warm-up epochs; a 3-iteration run.
    const r = await cli(['train', images, '--model', MODEL, '--out', run, ...TINY, '--epochs', '100', '--epoch-length', '1250', '--iterations', '3', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /schedule fitted to --iterations 3 \(instead of --epochs 100 × --epoch-length 1250 = 125000\)/);
    // Official cosine over 3 iterations (value = end + ½(start − end)(1 + cos(πi/3))): at i = 2, end + ¼(start − end).
    assert.match(r.stderr, /schedule over 3 iterations: lr 1\.77e-4 → 1\.77e-4 \(warm-up 0 it\) → 4\.49e-5; weight decay 0\.04 → 0\.31; teacher momentum 0\.992 → 0\.998; teacher temperature 0\.04 → 0\.07 \(warm-up 1 it\)/);
    const lines = await logLines(run);
    // Peak lr = 0.004 · √(2/1024) ≈ 1.77e-4 at the start of the cosine; unfitted, iteration 0 of the warm-up has lr 0.
    const peak = 0.004 * Math.sqrt(2 / 1024);
    assert.ok(Math.abs(lrOf(lines[0]!) - peak) < 1e-9, `lr at iteration 0: ${lrOf(lines[0]!)}`);
    // The official cosine over n = 3 iterations: min + ½(peak − min)(1 + cos(2π/3)) at the last one.
    const end = 1e-6 + 0.25 * (peak - 1e-6);
    assert.ok(Math.abs(lrOf(lines[2]!) - end) < 1e-9, `lr at the last iteration: ${lrOf(lines[2]!)}, expected ${end}`);
  });
});

test('train: --warmup-teacher-temp, --momentum-teacher and --final-momentum-teacher set the schedule; sinkhorn_knopp_stable where the official form overflows (#16)', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const run = join(dir, 'run');
    const flags = ['--teacher-temp', '0.01', '--warmup-teacher-temp', '0.01', '--momentum-teacher', '0.9', '--final-momentum-teacher', '0.98'];
    // At temperature 0.01 the official Sinkhorn-Knopp overflows on this model's logits; the stable form does not.
    const nan = await cli(['train', images, '--model', MODEL, '--out', join(dir, 'nan'), ...TINY, '--iterations', '3', '--quiet', ...flags]);
    assert.match(nan.stderr, /is NaN at iteration 0 \(with centering sinkhorn_knopp, as in the official code, teacher logits \/ temperature 0\.01 above ~88 overflow float32: centering sinkhorn_knopp_stable/);
    const r = await cli(['train', images, '--model', MODEL, '--out', run, ...TINY, '--epochs', '100', '--epoch-length', '1250', '--iterations', '3', '--quiet', ...flags, '--centering', 'sinkhorn_knopp_stable']);
    assert.equal(r.code, 0, r.stderr);
    // Cosine 0.9 → 0.98 over 3 iterations: at i = 2, 0.98 + ¼(0.9 − 0.98) = 0.96.
    assert.match(r.stderr, /teacher momentum 0\.9 → 0\.96; teacher temperature 0\.01 → 0\.01 /);
    const lines = await logLines(run);
    assert.equal(lines[0]!['teacherTemp'], 0.01);
    assert.ok(Math.abs(lines[2]!['teacherMomentum']! - 0.96) < 1e-9, `momentum at the last iteration: ${lines[2]!['teacherMomentum']}`);
    const bad = await cli(['train', images, '--model', MODEL, '--out', join(dir, 'bad'), ...TINY, '--iterations', '3', '--final-momentum-teacher', '1.5']);
    assert.match(bad.stderr, /--final-momentum-teacher must be between 0 and 1, got 1\.5/);
  });
});

test('train: every run prints its schedule; --quiet prints no iteration lines (#13 items 2, 8)', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const r = await cli(['train', images, '--model', MODEL, '--num-heads', '3', '--out', join(dir, 'run'), ...TINY, ...SCHEDULE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /schedule over 4 iterations: lr /);
    // The teacher keeps its architecture with its weights (#13 item 1).
    const teacher = await SafetensorsFile.open(join(dir, 'run', 'teacher_backbone.safetensors'));
    assert.equal(JSON.parse(String(teacher.metadata['dinov2_config'])).num_heads, 3);
    await teacher.close();
    assert.doesNotMatch(r.stderr, /iter \d+\/\d+/);
    assert.doesNotMatch(r.stderr, /^train: /m);
  });
});

test('train: --out holding a run is refused without --resume or --overwrite; --overwrite replaces it (#13 item 3)', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const run = join(dir, 'run');
    const args = ['train', images, '--model', MODEL, '--out', run, ...TINY, ...SCHEDULE];
    assert.equal((await cli([...args, '--iterations', '2'])).code, 0);
    const teacher = await readFile(join(run, 'teacher_backbone.safetensors'));
    const again = await cli(args);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /run already holds a training run .*; continue it with resume, or replace it with overwrite \(--resume, --overwrite\)/);
    assert.ok((await readFile(join(run, 'teacher_backbone.safetensors'))).equals(teacher), 'the refused run touched the old one');
    assert.equal((await logLines(run)).length, 2);
    const replaced = await cli([...args, '--overwrite']);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.deepEqual((await logLines(run)).map((l) => l['iteration']), [0, 1, 2, 3]);
  });
});

test('train --eval-every: k-NN of the teacher before the run, every n iterations and after the last, in log.jsonl; --arch takes a JSON config', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    for (const [cls, ks] of [['a', [0, 2, 4]], ['b', [1, 3, 5]]] as const) {
      await mkdir(join(dir, 'labelled', cls), { recursive: true });
      for (const k of ks) await copyFile(join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`), join(dir, 'labelled', cls, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
    }
    const arch = join(dir, 'arch.json');
    await writeFile(arch, JSON.stringify({ img_size: 28, patch_size: 14, embed_dim: 32, depth: 1, num_heads: 1 }));
    const run = join(dir, 'run');
    const labelled = join(dir, 'labelled');
    const r = await cli(['train', images, '--arch', arch, '--out', run, ...TINY, ...SCHEDULE.slice(0, 2), '--epoch-length', '3', '--warmup-epochs', '0', '--quiet', '--eval-every', '2', '--eval-train', labelled, '--eval-val', labelled, '--eval-k', '1,3']);
    assert.equal(r.code, 0, r.stderr);
    const lines = (await readFile(join(run, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { iteration: number; eval?: Record<string, number> });
    assert.deepEqual(lines.map((l) => [l.iteration, l.eval ? Object.keys(l.eval) : null]), [[-1, ['knn_top1_k1', 'knn_top1_k3']], [0, null], [1, ['knn_top1_k1', 'knn_top1_k3']], [2, ['knn_top1_k1', 'knn_top1_k3']]]);
    // The last evaluation is `dinov2 knn` on the saved teacher backbone (same protocol, same numbers).
    const knn = await cli(['knn', '--model', join(run, 'teacher_backbone.safetensors'), '--train', labelled, '--val', labelled, '--size', '28', '--k', '1,3', '--json', '--quiet']);
    assert.equal(knn.code, 0, knn.stderr);
    const results = (JSON.parse(knn.stdout) as { results: { k: number; top1: number }[] }).results;
    const last = lines.at(-1)!.eval!;
    for (const { k, top1 } of results) assert.equal(last[`knn_top1_k${k}`], +top1.toFixed(2));
    const model = await Dinov2.load(join(run, 'teacher_backbone.safetensors'));
    assert.equal(model.config.embed_dim, 32);
    await model.dispose();
    const bad = await cli(['train', images, '--arch', join(dir, 'nope.json'), '--out', join(dir, 'r2'), ...TINY, ...SCHEDULE]);
    assert.match(bad.stderr, /--arch .*nope\.json/);
  });
});

test('train --device webgpu without a GPU adapter: a clear error naming --device, before any image is read or --out created', async (t) => {
  const adapter = await checkDevice('webgpu').then(
    () => true,
    () => false,
  );
  if (adapter) return t.skip('this machine has a WebGPU adapter');
  await withTempDir(async (dir) => {
    const run = join(dir, 'run');
    const t0 = performance.now();
    // The inputs do not exist: the device is checked before the inputs are expanded.
    for (const command of [['train', join(dir, 'no-images'), '--out', run, ...TINY, ...SCHEDULE], ['distill', join(dir, 'no-images'), '--teacher', MODEL, '--student', MODEL, '--out', run, '--quiet']]) {
      const r = await cli([...command, '--device', 'webgpu']);
      assert.equal(r.code, 1, `${command[0]}: ${r.stderr}`);
      assert.match(r.stderr, /--device webgpu: device 'webgpu' is not available \(no GPU adapter/, command[0]);
      assert.match(r.stderr, /use --device cpu/, command[0]);
    }
    assert.ok(performance.now() - t0 < 30_000, 'the device check is not fast');
    await assert.rejects(readFile(join(run, 'log.jsonl')));
  });
});
