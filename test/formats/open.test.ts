import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openTensorFile, openWeights } from '../../src/formats/open.js';
import { selectStateDict } from '../../src/formats/stateDictKeys.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { writePth } from '../../src/formats/pth.js';
import { writeSafetensors } from '../../src/formats/safetensorsWriter.js';
import { sourceItems } from '../../src/formats/tensorItem.js';
import { LEGACY_PICKLE, MODELS, safetensorsWithHeaderLength, sameBytes, tempDir } from './helpers.js';

test('the format is detected from content, not from the file name', async () => {
  const dir = await tempDir();
  await copyFile(join(MODELS, 'tiny-mlp.pth'), join(dir, 'weights.safetensors'));
  await copyFile(join(MODELS, 'tiny-mlp.safetensors'), join(dir, 'weights.pth'));
  const a = await openWeights(join(dir, 'weights.safetensors'));
  const b = await openWeights(join(dir, 'weights.pth'));
  const c = await openWeights(join(MODELS, 'tiny-mlp-hf'));
  try {
    assert.equal(a.format, 'pth');
    assert.equal(b.format, 'safetensors');
    assert.equal(c.format, 'hf');
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
  await assert.rejects(openWeights(join(dir, 'nope')), /nope: cannot open weights/);
});

test('a DINOv2 training checkpoint (teacher wrapper, backbone prefix, chunked blocks) opens under hub keys', async () => {
  const dir = await tempDir();
  const st = await SafetensorsFile.open(join(MODELS, 'tiny-d4.safetensors'));
  try {
    // Chunked like block_chunks=2 over depth 4: blocks 0,1 in chunk 0 and blocks 2,3 in chunk 1.
    const training = (k: string): string => `teacher.backbone.${k.replace(/^blocks\.(\d+)\./, (_, i) => `blocks.${Number(i) >> 1}.${i}.`)}`;
    const items = [
      ...sourceItems(st).map((it) => ({ ...it, key: training(it.key) })),
      { key: 'teacher.dino_head.mlp.0.weight', dtype: 'F32' as const, shape: [2, 48], data: new Float32Array(96) },
      { key: 'student.backbone.cls_token', dtype: 'F32' as const, shape: [1, 1, 48], data: new Float32Array(48) },
    ];
    for (const [name, write] of [['ckpt.pth', writePth], ['ckpt.safetensors', writeSafetensors]] as const) {
      await write(join(dir, name), items);
      const w = await openWeights(join(dir, name));
      try {
        assert.deepEqual([...w.keys()].sort(), [...st.keys()].sort(), name);
        assert.equal(w.metadata.stateDictPrefix, 'teacher.backbone.');
        assert.equal(w.metadata.unchunkedBlocks, true);
        for (const k of st.keys()) assert.ok(sameBytes(await w.readRaw(k), await st.readRaw(k)), `${name} ${k}`);
        assert.equal(w.entry('blocks.3.mlp.fc2.weight')!.key, 'blocks.3.mlp.fc2.weight');
      } finally {
        await w.close();
      }
    }
  } finally {
    await st.close();
  }
});

test('wrapper and prefix rules', () => {
  const pick = (keys: string[]): [string[], string] => {
    const s = selectStateDict(keys, 'x');
    return [[...s.names.keys()], s.prefix];
  };
  assert.deepEqual(pick(['model.module.blocks.0.norm1.weight', 'model.module.norm.bias', 'optimizer.state.0.exp_avg']), [
    ['blocks.0.norm1.weight', 'norm.bias'],
    'model.module.',
  ]);
  assert.deepEqual(pick(['state_dict.backbone.cls_token', 'state_dict.head.weight']), [['cls_token'], 'state_dict.backbone.']);
  assert.deepEqual(pick(['weight', 'bias']), [['weight', 'bias'], '']);
  // `module.` is only a DDP wrapper when every key has it.
  assert.deepEqual(pick(['module.x', 'y']), [['module.x', 'y'], '']);
  // Hub keys have one block index and stay as they are.
  assert.deepEqual(pick(['blocks.11.norm1.weight']), [['blocks.11.norm1.weight'], '']);
  assert.throws(() => selectStateDict(['blocks.0.1.norm1.weight', 'blocks.1.1.norm1.weight'], 'dup.pth'), /dup\.pth: 'blocks\.0\.1\.norm1\.weight' and 'blocks\.1\.1\.norm1\.weight' both become 'blocks\.1\.norm1\.weight'/);
});

test('the reference checkpoints open unchanged (no renaming view)', async () => {
  const w = await openWeights(join(MODELS, 'tiny-reg4.pth'));
  try {
    assert.equal(w.constructor.name, 'PthFile');
    assert.equal(w.metadata.stateDictPrefix, undefined);
  } finally {
    await w.close();
  }
});

test('a truncated .pth opened through openWeights names the file', async () => {
  const dir = await tempDir();
  const bytes = await readFile(join(MODELS, 'tiny-swiglu.pth'));
  const path = join(dir, 'cut.pth');
  await writeFile(path, bytes.subarray(0, 200_000));
  await assert.rejects(openWeights(path), { message: `${path}: truncated or not a zip file (no end-of-central-directory record)` });
});

test('openTensorFile sniffs one file\'s format from its content and keeps the keys as stored', async () => {
  const dir = await tempDir();
  await copyFile(join(MODELS, 'tiny-mlp.pth'), join(dir, 'weights.safetensors'));
  await copyFile(join(MODELS, 'tiny-mlp.safetensors'), join(dir, 'weights.pth'));
  const a = await openTensorFile(join(dir, 'weights.safetensors'));
  const b = await openTensorFile(join(dir, 'weights.pth'));
  try {
    assert.equal(a.format, 'pth');
    assert.equal(b.format, 'safetensors');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  // No state-dict selection: a training wrapper stays in the keys (openWeights strips it).
  const wrapped = join(dir, 'wrapped.pth');
  await writePth(wrapped, [{ key: 'teacher.backbone.cls_token', dtype: 'F32', shape: [1, 1, 4], data: new Float32Array(4) }]);
  const w = await openTensorFile(wrapped);
  try {
    assert.deepEqual(w.keys(), ['teacher.backbone.cls_token']);
  } finally {
    await w.close();
  }
  // A safetensors header of 0x4b50 bytes makes the file start with 'PK'; it is still not a zip.
  const pk = join(dir, 'pk.safetensors');
  await writeFile(pk, safetensorsWithHeaderLength({ 'decode_head.conv_depth.bias': [3] }, 0x4b50));
  for (const open of [openTensorFile, openWeights]) {
    const s = await open(pk);
    try {
      assert.equal(s.format, 'safetensors');
      assert.deepEqual(s.keys(), ['decode_head.conv_depth.bias']);
    } finally {
      await s.close();
    }
  }
  const legacy = join(dir, 'legacy.pth');
  await writeFile(legacy, LEGACY_PICKLE);
  await assert.rejects(openTensorFile(legacy), { message: `${legacy}: legacy torch.save format (a bare pickle, from torch < 1.6); re-save with torch >= 1.6` });
  await assert.rejects(openTensorFile(join(dir, 'nope')), /ENOENT/);
});
