import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImage } from '../../src/data/decode.js';
import { denseTransform, evalTransform } from '../../src/data/transforms.js';
import { availableParallelism } from 'node:os';
import { defaultOverlap, embed } from '../../src/apps/embed.js';
import { loadBackbone } from '../../src/models/load.js';
import type { Dinov2 } from '../../src/models/dinov2.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { Tensor } from '../../src/core/tensor.js';
import { CONFORMANCE_DIR, maxAbsDiff, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';

const IMAGES = join(CONFORMANCE_DIR, 'images');
const MODEL = (name: string): string => join(CONFORMANCE_DIR, 'models', `${name}.safetensors`);

function readNpy(bytes: Uint8Array): { shape: number[]; data: Float32Array } {
  assert.equal(Buffer.from(bytes.subarray(1, 6)).toString(), 'NUMPY');
  assert.deepEqual([bytes[6], bytes[7]], [1, 0], 'format v1.0');
  const headerLength = bytes[8]! | (bytes[9]! << 8);
  assert.equal((10 + headerLength) % 64, 0, 'header padded to 64 bytes');
  const header = Buffer.from(bytes.subarray(10, 10 + headerLength)).toString('latin1');
  assert.match(header, /'descr': '<f4', 'fortran_order': False/);
  const shape = header.match(/'shape': \(([^)]*)\)/)![1]!.split(',').filter((s) => s.trim()).map(Number);
  const body = bytes.slice(10 + headerLength);
  return { shape, data: new Float32Array(body.buffer, body.byteOffset, body.byteLength / 4) };
}

async function imagePaths(): Promise<string[]> {
  return (await readdir(IMAGES)).sort().map((f) => join(IMAGES, f));
}

/** The reference: official eval transform + forwardFeatures, one image at a time, no CLI code involved. */
async function reference(model: Dinov2, paths: string[]): Promise<{ cls: Float32Array[]; mean: Float32Array[] }> {
  const cls: Float32Array[] = [];
  const mean: Float32Array[] = [];
  for (const p of paths) {
    const x = evalTransform(await decodeImage(p), { resize: 256, crop: 224 });
    const f = await model.forwardFeatures(x.reshape([1, 3, 224, 224]));
    cls.push(f.clsToken.data);
    const [, N, D] = f.patchTokens.shape as number[];
    const m = new Float32Array(D!);
    for (let n = 0; n < N!; n++) for (let d = 0; d < D!; d++) m[d] += f.patchTokens.data[n * D! + d]! / N!;
    mean.push(m);
  }
  return { cls, mean };
}

for (const name of ['tiny-mlp', 'tiny-reg4']) {
  test(`embed (${name}): .npy, .safetensors and .jsonl hold the library's features, in input order`, async () => {
    const paths = await imagePaths();
    assert.equal(paths.length, 4);
    const model = await loadBackbone(MODEL(name));
    const ref = await reference(model, paths);
    await model.dispose();
    await withTempDir(async (dir) => {
      const npy = join(dir, 'f.npy');
      // Decoding on worker threads (the default) and on the calling thread (--workers 0) give the same file.
      // Either way of sharing the cores (decode and model in turns, or side by side) gives the same file too.
      for (const workers of [[], ['--workers', '0'], ['--workers', '2'], ['--overlap', 'turns', '--workers', '2'], ['--overlap', 'concurrent']]) {
        const r = await cli(['embed', ...paths, '--model', MODEL(name), '--out', npy, '--batch', '3', '--quiet', ...workers]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /4 embedded, 0 failed/);
        const arr = readNpy(await readFile(npy));
        assert.deepEqual(arr.shape, [4, 48]);
        paths.forEach((_, i) => assert.ok(maxAbsDiff(arr.data.subarray(i * 48, (i + 1) * 48), ref.cls[i]!) <= 1e-4, `image ${i}, ${workers.join(' ') || 'default workers'}`));
      }

      const st = join(dir, 'f.safetensors');
      assert.equal((await cli(['embed', IMAGES, '--model', MODEL(name), '--pool', 'cls+mean', '--out', st])).code, 0);
      const file = await SafetensorsFile.open(st);
      assert.deepEqual(file.entry('embeddings')!.shape, [4, 96]);
      assert.deepEqual(JSON.parse(file.metadata['paths'] as string), paths, 'a folder expands to its images, sorted');
      const both = await file.readFloat32('embeddings');
      paths.forEach((_, i) => {
        assert.ok(maxAbsDiff(both.subarray(i * 96, i * 96 + 48), ref.cls[i]!) <= 1e-4);
        assert.ok(maxAbsDiff(both.subarray(i * 96 + 48, (i + 1) * 96), ref.mean[i]!) <= 1e-4);
      });
      await file.close();

      const jsonl = join(dir, 'f.jsonl');
      assert.equal((await cli(['embed', join(IMAGES, '*.png'), '--model', MODEL(name), '--pool', 'mean', '--out', jsonl])).code, 0);
      const lines = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { path: string; embedding: number[] });
      assert.deepEqual(lines.map((l) => l.path), paths.filter((p) => p.endsWith('.png')), 'a glob expands to the matching files');
      lines.forEach((l) => assert.ok(maxAbsDiff(l.embedding, ref.mean[paths.indexOf(l.path)]!) <= 1e-4));
    });
  });
}

test('embed: an unreadable file is reported and skipped, the rest written, exit status 1; --strict stops', async () => {
  await withTempDir(async (dir) => {
    const paths = await imagePaths();
    const corrupt = join(dir, 'corrupt.jpg');
    await writeFile(corrupt, Buffer.concat([(await readFile(paths[3]!)).subarray(0, 2000)]));
    const inputs = [paths[0]!, corrupt, paths[1]!, join(dir, 'missing.png'), paths[2]!];
    const out = join(dir, 'f.npy');
    const r = await cli(['embed', ...inputs, '--model', MODEL('tiny-mlp'), '--out', out, '--batch', '2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`skipped ${corrupt}: cannot decode`));
    assert.match(r.stderr, /skipped .*missing\.png: no such file/);
    assert.match(r.stderr, /3 embedded, 2 failed/);
    assert.match(r.stderr, /dinov2 embed: 2 of 5 inputs could not be read/);
    const arr = readNpy(await readFile(out));
    assert.deepEqual(arr.shape, [3, 48]);
    // The rows' file names beside the .npy (#13 item 10): the skipped files are not among them.
    assert.equal(await readFile(`${out}.paths.txt`, 'utf8'), `${paths[0]}\n${paths[1]}\n${paths[2]}\n`);
    const model = await loadBackbone(MODEL('tiny-mlp'));
    const ref = await reference(model, [paths[0]!, paths[1]!, paths[2]!]);
    await model.dispose();
    ref.cls.forEach((c, i) => assert.ok(maxAbsDiff(arr.data.subarray(i * 48, (i + 1) * 48), c) <= 1e-4));

    const strictOut = join(dir, 'strict.jsonl');
    const s = await cli(['embed', paths[0]!, corrupt, paths[1]!, '--model', MODEL('tiny-mlp'), '--out', strictOut, '--strict']);
    assert.equal(s.code, 1);
    assert.match(s.stderr, new RegExp(`dinov2 embed: ${corrupt}: cannot decode.*--strict`));
    await assert.rejects(stat(strictOut), 'nothing is written');
  });
});

test('embed: usage errors (unknown format, --size with --dense, sizes off the patch grid)', async () => {
  const img = join(IMAGES, 'chelsea.png');
  assert.equal((await cli(['embed', img, '--model', MODEL('tiny-mlp'), '--out', 'x.csv'])).code, 1);
  assert.equal((await cli(['embed', img, '--model', MODEL('tiny-mlp'), '--out', 'x.npy', '--size', '224', '--dense', '518'])).code, 2);
  const r = await cli(['embed', img, '--model', MODEL('tiny-mlp'), '--out', '/tmp/never.npy', '--size', '200']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /size 200 is not a positive multiple of the patch size 14/);
  assert.match((await cli(['embed', img, '--model', 'no_such_model', '--out', 'x.npy'])).stderr, /neither an existing file or folder nor a hub model name/);
  const overlap = await cli(['embed', img, '--model', MODEL('tiny-mlp'), '--out', 'x.npy', '--overlap', 'sometimes']);
  assert.equal(overlap.code, 2);
  assert.match(overlap.stderr, /--overlap <mode>.*sometimes.*turns, concurrent/s);
});

test('embed: decoding and the model take turns by default only when onnxruntime takes every core', () => {
  const cores = availableParallelism();
  assert.equal(defaultOverlap({ cpuThreads: cores }), 'turns');
  assert.equal(defaultOverlap({ cpuThreads: cores + 1 }), 'turns');
  assert.equal(defaultOverlap({ cpuThreads: 0 }), 'concurrent', 'a GPU model leaves the cores to decoding');
  if (cores > 1) assert.equal(defaultOverlap({ cpuThreads: cores - 1 }), 'concurrent');
});

test('embed (library): dense inputs of different shapes are batched by shape and returned in input order', async () => {
  const model = await loadBackbone(MODEL('tiny-reg4'));
  const paths = await imagePaths();
  const bytes = new Uint8Array(await readFile(paths[1]!));
  const rgb = await decodeImage(paths[2]!);
  const inputs = [paths[0]!, bytes, rgb, paths[3]!, paths[0]!];
  const result = await embed(inputs, { model, dense: 70, pool: 'patch', batch: 2 });
  assert.deepEqual(result.paths, [paths[0], '<buffer 1>', '<image 2>', paths[3], paths[0]]);
  assert.equal(result.failures.length, 0);
  for (const [i, item] of result.items.entries()) {
    const img = typeof inputs[i] === 'string' ? await decodeImage(inputs[i] as string) : i === 1 ? await decodeImage(bytes) : rgb;
    const x = denseTransform(img, { shorterSide: 70 });
    const f = await model.forwardFeatures(x.reshape([1, ...x.shape]));
    assert.deepEqual(item.grid, f.grid);
    assert.deepEqual(item.embedding.shape, f.patchTokens.shape.slice(1));
    assert.ok(maxAbsDiff(item.embedding.data, f.patchTokens.data) <= 1e-4);
  }
  // The images have different aspect ratios, so patch tokens cannot be stacked.
  assert.throws(() => result.embeddings, /different grids/);
  const pooled = await embed([paths[0]!, new Uint8Array([1, 2, 3])], { model, size: 56 });
  assert.deepEqual(pooled.embeddings.shape, [1, 48]);
  assert.equal(pooled.failures[0]!.path, '<buffer 1>');
  assert.match(pooled.failures[0]!.reason, /cannot decode/);
  await model.dispose();
});

test('embed: patch tokens of different grids go to one safetensors tensor per image', async () => {
  await withTempDir(async (dir) => {
    const paths = await imagePaths();
    const out = join(dir, 'p.safetensors');
    const r = await cli(['embed', paths[0]!, paths[1]!, '--model', MODEL('tiny-mlp'), '--dense', '42', '--pool', 'patch', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const file = await SafetensorsFile.open(out);
    const grids = JSON.parse(file.metadata['grids'] as string) as [number, number][];
    const model = await loadBackbone(MODEL('tiny-mlp'));
    for (const i of [0, 1]) {
      const x = denseTransform(await decodeImage(paths[i]!), { shorterSide: 42 });
      const f = await model.forwardFeatures(Tensor.stack([x]));
      assert.deepEqual(grids[i], f.grid);
      assert.deepEqual(file.entry(`patch_tokens.${i}`)!.shape, [f.grid[0] * f.grid[1], 48]);
      assert.ok(maxAbsDiff(await file.readFloat32(`patch_tokens.${i}`), f.patchTokens.data) <= 1e-4);
    }
    await file.close();
    await model.dispose();
    // .npy holds one array: different grids are refused, and the partial file removed.
    await copyFile(paths[0]!, join(dir, 'a.png'));
    const npy = await cli(['embed', paths[0]!, paths[1]!, '--model', MODEL('tiny-mlp'), '--dense', '42', '--pool', 'patch', '--out', join(dir, 'p.npy')]);
    assert.equal(npy.code, 1);
    assert.match(npy.stderr, /use \.safetensors/);
    assert.deepEqual((await readdir(dir)).sort(), ['a.png', 'p.safetensors']);
  });
});

test('embed --help says where the .npy file names go', async () => {
  const r = await cli(['embed', '--help']);
  assert.match(r.stdout, /\.npy .*<out>\.paths\.txt beside it \(the file names, one per line, in row order\)/);
});
