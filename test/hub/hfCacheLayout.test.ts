/**
 * Checkpoints reached through symlinks run end to end: a relative and an absolute symlink to a file, and the
 * Hugging Face cache layout (snapshots/<rev>/model.safetensors -> ../../blobs/<sha>). onnxruntime refuses
 * external data that is a dangling link or escapes the model folder, so the graph must reference the real file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Dinov2 } from '../../src/models/dinov2.js';
import { Tensor } from '../../src/core/tensor.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';

const MODELS = join(CONFORMANCE_DIR, 'models');
const IMAGE = join(CONFORMANCE_DIR, 'images', 'chelsea.png');

function input(): Tensor {
  const n = 3 * 28 * 28;
  return new Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)), [1, 3, 28, 28]);
}

async function clsToken(path: string): Promise<Float32Array> {
  const model = await Dinov2.load(path);
  try {
    const out = await model.forwardFeatures(input());
    return Float32Array.from(out.clsToken.data);
  } finally {
    await model.dispose();
  }
}

/** Builds `<dir>/models--org--tiny/{blobs,refs,snapshots/<rev>}` the way huggingface_hub does. */
async function hfCache(dir: string, source: string): Promise<string> {
  const repo = join(dir, 'models--org--tiny');
  const rev = 'a'.repeat(40);
  await mkdir(join(repo, 'blobs'), { recursive: true });
  await mkdir(join(repo, 'snapshots', rev), { recursive: true });
  for (const [file, blob] of [['config.json', 'c'.repeat(40)], ['model.safetensors', 'b'.repeat(64)]] as const) {
    await copyFile(join(source, file), join(repo, 'blobs', blob));
    await symlink(join('..', '..', 'blobs', blob), join(repo, 'snapshots', rev, file));
  }
  return join(repo, 'snapshots', rev);
}

test('a checkpoint through a relative symlink, an absolute symlink and the HF cache layout runs like the file itself', async () => {
  await withTempDir(async (dir) => {
    const file = join(MODELS, 'tiny-mlp.safetensors');
    const expected = await clsToken(file);
    const local = join(dir, 'real', 'tiny.safetensors');
    await mkdir(join(dir, 'real'));
    await mkdir(join(dir, 'links'));
    await copyFile(file, local);
    await symlink(join('..', 'real', 'tiny.safetensors'), join(dir, 'links', 'relative.safetensors'));
    await symlink(local, join(dir, 'links', 'absolute.safetensors'));
    await symlink(join(dir, 'links', 'relative.safetensors'), join(dir, 'links', 'chain.safetensors'));
    for (const name of ['relative', 'absolute', 'chain']) {
      assert.deepEqual(await clsToken(join(dir, 'links', `${name}.safetensors`)), expected, name);
    }
    const snapshot = await hfCache(dir, join(MODELS, 'tiny-mlp-hf'));
    const hf = await clsToken(snapshot);
    const direct = await clsToken(join(MODELS, 'tiny-mlp-hf'));
    assert.deepEqual(hf, direct);
  });
});

test('the CLI embeds with a model in the HF cache layout and through a symlinked .pth', async () => {
  await withTempDir(async (dir) => {
    const snapshot = await hfCache(dir, join(MODELS, 'tiny-mlp-hf'));
    await symlink(join(MODELS, 'tiny-mlp.pth'), join(dir, 'linked.pth'));
    const read = async (f: string): Promise<number[]> => (JSON.parse((await readFile(f, 'utf8')).trim()) as { embedding: number[] }).embedding;
    const runs: Record<string, number[]> = {};
    for (const [name, model] of [['hf', snapshot], ['hfDirect', join(MODELS, 'tiny-mlp-hf')], ['pth', join(dir, 'linked.pth')], ['pthDirect', join(MODELS, 'tiny-mlp.pth')]] as const) {
      const out = join(dir, `${name}.jsonl`);
      const r = await cli(['embed', IMAGE, '--model', model, '--out', out, '--quiet']);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      runs[name] = await read(out);
    }
    assert.deepEqual(runs['hf'], runs['hfDirect']);
    assert.deepEqual(runs['pth'], runs['pthDirect']);
    const info = await cli(['info', snapshot]);
    assert.equal(info.code, 0, info.stderr);
  });
});

test('the other backbone commands run with a model in the HF cache layout (pca, attention, index, search, dedup, convert)', async () => {
  await withTempDir(async (dir) => {
    const snapshot = await hfCache(dir, join(MODELS, 'tiny-mlp-hf'));
    const images = join(dir, 'images');
    await mkdir(images);
    await copyFile(IMAGE, join(images, 'a.png'));
    const db = join(dir, 'db');
    const runs: [string, string[]][] = [
      ['pca', ['pca', IMAGE, '--model', snapshot, '--out', join(dir, 'pca.png'), '--dense', '56']],
      ['attention', ['attention', IMAGE, '--model', snapshot, '--num-heads', '1', '--size', '56', '--out', join(dir, 'attn.png')]],
      ['index', ['index', images, '--db', db, '--model', snapshot, '--size', '56', '--quiet']],
      ['search', ['search', IMAGE, '--db', db, '--k', '1', '--json']],
      ['dedup', ['dedup', images, '--model', snapshot, '--size', '56', '--out', join(dir, 'dups.json'), '--quiet']],
      ['convert', ['convert', snapshot, join(dir, 'converted.safetensors')]],
    ];
    for (const [name, args] of runs) {
      const r = await cli(args);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
  });
});
