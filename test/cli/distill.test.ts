import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openWeights } from '../../src/formats/open.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { writeTrainingImages as writeImages } from '../apps/retrieval/images.js';

const TEACHER = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const TINY = ['--global-size', '28', '--local-size', '14', '--local-crops', '2', '--batch', '2', '--prototypes', '16', '--head-hidden', '8', '--head-bottleneck', '4'];
const SCHEDULE = ['--epochs', '1', '--epoch-length', '4', '--warmup-epochs', '0', '--quiet'];

type LogLine = Record<string, unknown>;
const logLines = async (run: string): Promise<LogLine[]> => (await readFile(join(run, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as LogLine);

/** Two labelled classes of the training scenes, for the k-NN flags. */
async function labelled(images: string, dir: string): Promise<void> {
  for (const [cls, ks] of [['a', [0, 2, 4]], ['b', [1, 3, 5]]] as const) {
    await mkdir(join(dir, cls), { recursive: true });
    for (const k of ks) await copyFile(join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`), join(dir, cls, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
  }
}

test('distill: tiny teacher checkpoint → custom student; log, k-NN during the run, resume to the same bytes, EMA backbone with official keys that embed loads', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    await labelled(images, join(dir, 'labelled'));
    const arch = join(dir, 'student.json');
    await writeFile(arch, JSON.stringify({ img_size: 28, patch_size: 14, embed_dim: 32, depth: 2, num_heads: 1 }));
    const common = ['distill', images, '--teacher', TEACHER, '--student', arch, ...TINY, ...SCHEDULE, '--seed', '5'];
    const evalFlags = ['--eval-every', '2', '--eval-train', join(dir, 'labelled'), '--eval-val', join(dir, 'labelled'), '--eval-k', '3'];
    const whole = join(dir, 'whole');
    const r = await cli([...common, '--out', whole, ...evalFlags]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out, { iterations: 4, studentBackbone: join(whole, 'student_backbone.safetensors'), teacherHeads: 'random', state: join(whole, 'state'), skipped: [] });
    const lines = await logLines(whole);
    assert.deepEqual(lines.map((l) => l['iteration']), [-1, 0, 1, 2, 3]);
    // k-NN before the first iteration, after 2 and after 4.
    assert.deepEqual(lines.map((l) => (l['eval'] ? Object.keys(l['eval'] as object) : null)), [['knn_top1_k3'], null, ['knn_top1_k3'], null, ['knn_top1_k3']]);
    for (const l of lines.slice(1)) for (const k of ['total', 'dino_global_crops', 'dino_local_crops', 'ibot', 'koleo']) assert.ok(Number.isFinite(l[k]), `${k} = ${String(l[k])}`);
    // iBOT runs on every patch of the global crops: never zero.
    assert.ok(lines.slice(1).every((l) => (l['ibot'] as number) > 0));

    // Stopped after 2 iterations, then resumed: the same student EMA as the uninterrupted run.
    const split = join(dir, 'split');
    assert.equal((await cli([...common, '--out', split, '--iterations', '2', '--save-every', '2'])).code, 0);
    const resumed = await cli([...common, '--out', split, '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const bytes = (run: string) => readFile(join(run, 'student_backbone.safetensors'));
    assert.ok((await bytes(split)).equals(await bytes(whole)), 'the resumed run ends elsewhere');

    // Official keys: the file is a backbone checkpoint for every command.
    const w = await openWeights(join(whole, 'student_backbone.safetensors'));
    assert.ok(w.keys().includes('blocks.1.mlp.fc2.weight') && w.keys().includes('cls_token') && !w.keys().some((k) => k.startsWith('backbone.')));
    await w.close();
    const emb = await cli(['embed', join(images, 'img0.jpg'), '--model', join(whole, 'student_backbone.safetensors'), '--size', '28', '--out', join(dir, 'f.jsonl'), '--quiet']);
    assert.equal(emb.code, 0, emb.stderr);
    const row = JSON.parse((await readFile(join(dir, 'f.jsonl'), 'utf8')).trim()) as { embedding: number[] };
    assert.equal(row.embedding.length, 32);
  });
});

test('distill: bad settings fail before any work, naming the flag', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const run = async (extra: string[]) => cli(['distill', images, '--teacher', TEACHER, '--student', 'dinov2_vits14', '--out', join(dir, 'r'), ...extra]);
    assert.match((await run(['--teacher-precision', 'int4'])).stderr, /--teacher-precision must be float32, float16 or int8/);
    assert.match((await run(['--eval-every', '2'])).stderr, /--eval-every, --eval-train and --eval-val go together/);
    assert.match((await run(['--teacher-heads', 'trained'])).stderr, /--teacher-heads must be run or random/);
  });
});

test('distill --teacher-precision int8 / float16: the teacher runs quantised or rounded; finite losses, a different run than float32', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const arch = join(dir, 'student.json');
    await writeFile(arch, JSON.stringify({ img_size: 28, patch_size: 14, embed_dim: 32, depth: 1, num_heads: 1 }));
    const runs: Record<string, Buffer> = {};
    for (const precision of ['float32', 'int8', 'float16']) {
      const out = join(dir, precision);
      const r = await cli(['distill', images, '--teacher', TEACHER, '--student', arch, ...TINY, ...SCHEDULE.slice(0, 2), '--epoch-length', '2', '--warmup-epochs', '0', '--quiet', '--teacher-precision', precision, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      for (const l of await logLines(out)) assert.ok(Number.isFinite(l['total']), `${precision}: total ${String(l['total'])}`);
      runs[precision] = await readFile(join(out, 'student_backbone.safetensors'));
    }
    assert.ok(!runs['int8']!.equals(runs['float32']!), 'int8 teacher gave the float32 run');
    assert.ok(!runs['float16']!.equals(runs['float32']!), 'float16 teacher gave the float32 run');
  });
});

test('distill --views 2: crops come from two fixed views per image (teacher outputs cached); the run is reproducible', async () => {
  await withTempDir(async (dir) => {
    const images = await writeImages(dir);
    const arch = join(dir, 'student.json');
    await writeFile(arch, JSON.stringify({ img_size: 28, patch_size: 14, embed_dim: 32, depth: 1, num_heads: 1 }));
    const run = (out: string) => cli(['distill', images, '--teacher', TEACHER, '--student', arch, ...TINY, ...SCHEDULE, '--views', '2', '--out', out]);
    for (const out of ['a', 'b']) assert.equal((await run(join(dir, out))).code, 0);
    assert.equal((await logLines(join(dir, 'a'))).length, 4);
    const bytes = (out: string) => readFile(join(dir, out, 'student_backbone.safetensors'));
    assert.ok((await bytes('a')).equals(await bytes('b')));
    assert.match((await cli(['distill', images, '--teacher', TEACHER, '--student', arch, '--out', join(dir, 'c'), '--views', '0'])).stderr, /--views/);
  });
});
