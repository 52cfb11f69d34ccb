import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelByNameOrPath, resolveCheckpoint } from '../../src/hub/loadModel.js';
import { backboneArtifact } from '../../src/hub/registry.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';

const TINY = join(CONFORMANCE_DIR, 'models', 'tiny-reg4.pth');

/** Points the torch.hub cache at `dir` for the duration of `fn`. */
async function withTorchHome<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env['TORCH_HOME'];
  process.env['TORCH_HOME'] = dir;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env['TORCH_HOME'];
    else process.env['TORCH_HOME'] = saved;
  }
}

test('--model takes a checkpoint path; --weights with a hub name must have that architecture', async () => {
  const model = await loadModelByNameOrPath(TINY);
  assert.equal(model.numRegisterTokens, 4);
  await model.dispose();
  await assert.rejects(loadModelByNameOrPath('dinov2_vits14_reg', { weights: TINY }), /tiny-reg4\.pth is not a dinov2_vits14_reg checkpoint: embed_dim 48 \(expected 384\), depth 3 \(expected 12\)/);
  await assert.rejects(loadModelByNameOrPath('./nothing-here', {}), /neither an existing file or folder nor a hub model name/);
  await assert.rejects(loadModelByNameOrPath('./nothing-here', { weights: TINY }), /not a hub model name/);
  await assert.rejects(loadModelByNameOrPath(undefined, {}), /no model/);
});

test('a hub name resolves through the torch.hub cache, and offline without it fails naming the URL', async () => {
  await withTempDir(async (dir) => {
    await withTorchHome(dir, async () => {
      await assert.rejects(resolveCheckpoint('dinov2_vits14', { offline: true }), /cannot get .*offline[\s\S]*fetch: +https:\/\/[\s\S]*--weights PATH/);
      const cached = join(dir, 'hub', 'checkpoints', backboneArtifact('dinov2_vits14').filename);
      await mkdir(join(dir, 'hub', 'checkpoints'), { recursive: true });
      await copyFile(TINY, cached);
      assert.deepEqual(await resolveCheckpoint('dinov2_vits14', { offline: true }), { path: cached, hubName: 'dinov2_vits14' });
      // The cached file is checked against the architecture the name promises.
      await assert.rejects(loadModelByNameOrPath('dinov2_vits14', { offline: true }), /is not a dinov2_vits14 checkpoint/);
    });
  });
});

test('--precision int8 runs the int8 graph: features close to, but not equal to, float32', async () => {
  const { runCli } = await import('../../src/cli/main.js');
  const { readFile } = await import('node:fs/promises');
  await withTempDir(async (dir) => {
    const img = join(CONFORMANCE_DIR, 'images', 'chelsea.png');
    const weights = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
    const read = async (f: string): Promise<number[]> => (JSON.parse((await readFile(f, 'utf8')).trim()) as { embedding: number[] }).embedding;
    assert.equal(await runCli(['embed', img, '--model', weights, '--out', join(dir, 'f32.jsonl'), '--quiet']), 0);
    assert.equal(await runCli(['embed', img, '--model', weights, '--precision', 'int8', '--out', join(dir, 'i8.jsonl'), '--quiet']), 0);
    const [a, b] = [await read(join(dir, 'f32.jsonl')), await read(join(dir, 'i8.jsonl'))];
    let dot = 0, na = 0, nb = 0, same = true;
    a.forEach((v, i) => { dot += v * b[i]!; na += v * v; nb += b[i]! * b[i]!; same &&= v === b[i]; });
    assert.ok(!same, 'int8 output must differ from float32');
    assert.ok(dot / Math.sqrt(na * nb) > 0.98, `cosine ${dot / Math.sqrt(na * nb)}`);
  });
});
