import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HfFolder, writeHfFolder } from '../../src/formats/hfFolder.js';
import { backboneConfigToHf, hfConfigToBackboneConfig, type BackboneConfig } from '../../src/models/hfConfig.js';
import { makeConfig } from '../../src/models/config.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { writeSafetensors } from '../../src/formats/safetensorsWriter.js';
import { writePth } from '../../src/formats/pth.js';
import { sourceItems } from '../../src/formats/tensorItem.js';
import { MODELS, sameBytes, tempDir, TINY } from './helpers.js';

const manifest = JSON.parse(await readFile(join(MODELS, '..', 'manifest.json'), 'utf8')) as {
  models: Record<string, { config: Record<string, unknown> }>;
};

function officialConfig(model: string): BackboneConfig {
  const { name: _name, ...config } = manifest.models[model]!.config;
  // The manifest lists the constructor arguments; the class defaults (eps 1e-6, 3 channels) complete them.
  return makeConfig(config as Partial<BackboneConfig>);
}

const readJson = async (path: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(path, 'utf8'));

for (const model of TINY) {
  test(`${model}: config.json maps to the official constructor arguments of the manifest`, async () => {
    assert.deepEqual(hfConfigToBackboneConfig(await readJson(join(MODELS, `${model}-hf`, 'config.json'))), officialConfig(model));
  });

  test(`${model}: writeHfFolder reproduces the real HF folder's tensors and config`, async () => {
    const dir = join(await tempDir(), 'hf');
    const source = await SafetensorsFile.open(join(MODELS, `${model}.safetensors`));
    const real = await SafetensorsFile.open(join(MODELS, `${model}-hf`, 'model.safetensors'));
    try {
      await writeHfFolder(dir, source, backboneConfigToHf(officialConfig(model)));
      const ours = await SafetensorsFile.open(join(dir, 'model.safetensors'));
      try {
        assert.deepEqual([...ours.keys()].sort(), [...real.keys()].sort());
        for (const k of real.keys()) {
          assert.deepEqual(ours.entry(k)!.shape, real.entry(k)!.shape, k);
          assert.ok(sameBytes(await ours.readRaw(k), await real.readRaw(k)), k);
        }
      } finally {
        await ours.close();
      }
      const ourConfig = await readJson(join(dir, 'config.json'));
      const realConfig = await readJson(join(MODELS, `${model}-hf`, 'config.json'));
      for (const [k, v] of Object.entries(ourConfig)) if (k in realConfig) assert.deepEqual(v, realConfig[k], `config.json '${k}'`);
      assert.deepEqual(ourConfig.architectures, [model === 'tiny-reg4' ? 'Dinov2WithRegistersModel' : 'Dinov2Model']);
      assert.deepEqual(hfConfigToBackboneConfig(ourConfig), officialConfig(model));

      const back = await HfFolder.open(dir);
      try {
        assert.deepEqual([...back.keys()].sort(), [...source.keys()].sort());
        for (const k of source.keys()) assert.ok(sameBytes(await back.readRaw(k), await source.readRaw(k)), k);
      } finally {
        await back.close();
      }
    } finally {
      await Promise.all([source.close(), real.close()]);
    }
  });
}

test('q/k/v are fused in query, key, value order with no extent; plain tensors keep theirs', async () => {
  const folder = await HfFolder.open(join(MODELS, 'tiny-mlp-hf'));
  const file = await SafetensorsFile.open(join(MODELS, 'tiny-mlp-hf', 'model.safetensors'));
  try {
    const qkv = folder.entry('blocks.1.attn.qkv.bias')!;
    assert.deepEqual(qkv.shape, [144]);
    assert.equal(qkv.extent, undefined);
    const fused = await folder.readFloat32('blocks.1.attn.qkv.bias');
    const parts = ['query', 'key', 'value'];
    for (let i = 0; i < 3; i++) {
      const part = await file.readFloat32(`encoder.layer.1.attention.attention.${parts[i]}.bias`);
      assert.deepEqual([...fused.subarray(i * 48, (i + 1) * 48)], [...part], parts[i]);
    }
    assert.deepEqual(folder.entry('norm.weight')!.extent, file.entry('layernorm.weight')!.extent);
  } finally {
    await Promise.all([folder.close(), file.close()]);
  }
});

test('a sharded folder (index.json) reads like the single-file one', async () => {
  const dir = await tempDir();
  const real = await SafetensorsFile.open(join(MODELS, 'tiny-reg4-hf', 'model.safetensors'));
  const whole = await HfFolder.open(join(MODELS, 'tiny-reg4-hf'));
  try {
    const keys = real.keys();
    const half = keys.length >> 1;
    await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), sourceItems(real, keys.slice(0, half)));
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), sourceItems(real, keys.slice(half)));
    const weightMap = Object.fromEntries(keys.map((k, i) => [k, `model-0000${i < half ? 1 : 2}-of-00002.safetensors`]));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    await copyFile(join(MODELS, 'tiny-reg4-hf', 'config.json'), join(dir, 'config.json'));
    const sharded = await HfFolder.open(dir);
    try {
      assert.deepEqual([...sharded.keys()].sort(), [...whole.keys()].sort());
      for (const k of whole.keys()) assert.ok(sameBytes(await sharded.readRaw(k), await whole.readRaw(k)), k);
    } finally {
      await sharded.close();
    }
  } finally {
    await Promise.all([real.close(), whole.close()]);
  }
});

for (const [model, prefix] of [['tiny-mlp', 'dinov2.'], ['tiny-reg4', 'dinov2_with_registers.']] as const) {
  test(`classification checkpoints: the '${prefix}' prefix is stripped and classifier.* kept (also from pytorch_model.bin)`, async () => {
    const real = await SafetensorsFile.open(join(MODELS, `${model}-hf`, 'model.safetensors'));
    const official = await SafetensorsFile.open(join(MODELS, `${model}.safetensors`));
    try {
      const classifier = new Float32Array(10 * 96).map((_, i) => i / 7);
      const items = [
        ...sourceItems(real).map((it) => ({ ...it, key: prefix + it.key })),
        { key: 'classifier.weight', dtype: 'F32' as const, shape: [10, 96], data: classifier },
        { key: 'classifier.bias', dtype: 'F32' as const, shape: [10], data: new Float32Array(10) },
      ];
      for (const format of ['safetensors', 'bin'] as const) {
        const dir = await tempDir();
        if (format === 'safetensors') await writeSafetensors(join(dir, 'model.safetensors'), items);
        else await writePth(join(dir, 'pytorch_model.bin'), items);
        await copyFile(join(MODELS, `${model}-hf`, 'config.json'), join(dir, 'config.json'));
        const folder = await HfFolder.open(dir);
        try {
          assert.deepEqual([...folder.keys()].sort(), [...official.keys(), 'classifier.weight', 'classifier.bias'].sort(), format);
          for (const k of official.keys()) assert.ok(sameBytes(await folder.readRaw(k), await official.readRaw(k)), `${format} ${k}`);
          assert.deepEqual([...(await folder.readFloat32('classifier.weight'))], [...classifier]);
        } finally {
          await folder.close();
        }
      }
    } finally {
      await Promise.all([real.close(), official.close()]);
    }
  });
}

test('a folder missing one of query/key/value says which', async () => {
  const dir = await tempDir();
  const real = await SafetensorsFile.open(join(MODELS, 'tiny-mlp-hf', 'model.safetensors'));
  try {
    const keys = real.keys().filter((k) => k !== 'encoder.layer.2.attention.attention.key.weight');
    await writeSafetensors(join(dir, 'model.safetensors'), sourceItems(real, keys));
    await copyFile(join(MODELS, 'tiny-mlp-hf', 'config.json'), join(dir, 'config.json'));
    await assert.rejects(HfFolder.open(dir), /has no 'key' counterpart, so 'blocks\.2\.attn\.qkv\.weight' cannot be assembled/);
    await mkdir(join(dir, 'empty'));
    await assert.rejects(HfFolder.open(join(dir, 'empty')), /empty: no config\.json/);
  } finally {
    await real.close();
  }
});
