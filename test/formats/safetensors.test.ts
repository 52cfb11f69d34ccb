import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { writeSafetensors } from '../../src/formats/safetensorsWriter.js';
import { sourceItems, type TensorItem } from '../../src/formats/tensorItem.js';
import { MODELS, sameBytes, tempDir } from './helpers.js';

const u16 = (raw: Uint8Array): number[] => [...new Uint16Array(raw.slice().buffer)];

test('F32/F16/BF16 and integer tensors survive a write/read round trip with IEEE rounding', async () => {
  const dir = await tempDir();
  const path = join(dir, 'mixed.safetensors');
  const mask = new Uint8Array([1, 0, 0, 1, 1, 0]);
  const ids = new Uint8Array(new BigInt64Array([-3n, 7n, 1n << 40n]).buffer);
  async function* items(): AsyncGenerator<TensorItem> {
    yield { key: 'f32', dtype: 'F32', shape: [2, 2], data: new Float32Array([1.5, -2, 1e-30, 3.25]) };
    yield { key: 'f16', dtype: 'F16', shape: [5], data: () => new Float32Array([1, -2, 0.5, 65504, 1 / 3]) };
    yield { key: 'bf16', dtype: 'BF16', shape: [3], data: async () => new Float32Array([1, -2, 1 / 3]) };
    yield { key: 'mask', dtype: 'U8', shape: [2, 3], data: mask };
    yield { key: 'ids', dtype: 'I64', shape: [3], data: ids };
  }
  await writeSafetensors(path, items(), { note: 'round trip' });

  const bytes = await readFile(path);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + headerLen) % 8, 0, 'tensor data must start 8-byte aligned');
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
  assert.deepEqual(Object.keys(header), ['__metadata__', 'f32', 'f16', 'bf16', 'mask', 'ids']);
  assert.deepEqual(header.f16, { dtype: 'F16', shape: [5], data_offsets: [16, 26] });

  const f = await SafetensorsFile.open(path);
  try {
    assert.deepEqual(f.metadata, { note: 'round trip' });
    assert.deepEqual([...(await f.readFloat32('f32'))], [1.5, -2, Math.fround(1e-30), 3.25]);
    // binary16 encodings of 1, -2, 0.5, 65504 (largest finite) and 1/3 (0x3555 = 0.333251953125).
    assert.deepEqual(u16(await f.readRaw('f16')), [0x3c00, 0xc000, 0x3800, 0x7bff, 0x3555]);
    assert.deepEqual([...(await f.readFloat32('f16'))], [1, -2, 0.5, 65504, 0.333251953125]);
    // bfloat16: 1/3 = 0x3eaaaaab in float32 rounds up to 0x3eab = 0.333984375.
    assert.deepEqual(u16(await f.readRaw('bf16')), [0x3f80, 0xc000, 0x3eab]);
    assert.deepEqual([...(await f.readFloat32('bf16'))], [1, -2, 0.333984375]);
    assert.ok(sameBytes(await f.readRaw('mask'), mask));
    assert.deepEqual(f.entry('mask')!.shape, [2, 3]);
    assert.deepEqual([...(await f.readFloat32('ids'))], [-3, 7, 2 ** 40]);
  } finally {
    await f.close();
  }
});

test('rewriting a real checkpoint reproduces every tensor byte for byte', async () => {
  const dir = await tempDir();
  const original = await SafetensorsFile.open(join(MODELS, 'tiny-swiglu.safetensors'));
  const copy = join(dir, 'copy.safetensors');
  try {
    await writeSafetensors(copy, sourceItems(original));
    const back = await SafetensorsFile.open(copy);
    try {
      assert.deepEqual(back.keys(), original.keys());
      assert.equal(back.keys().length, 49);
      for (const k of original.keys()) {
        assert.deepEqual(back.entry(k)!.shape, original.entry(k)!.shape, k);
        assert.ok(sameBytes(await back.readRaw(k), await original.readRaw(k)), k);
      }
    } finally {
      await back.close();
    }
  } finally {
    await original.close();
  }
});

test('the writer rejects data that does not fit the declared shape, naming the tensor', async () => {
  const dir = await tempDir();
  await assert.rejects(
    writeSafetensors(join(dir, 'bad.safetensors'), [{ key: 'w', dtype: 'F16', shape: [3], data: new Uint8Array(4) }]),
    /'w' F16\[3\] needs 6 bytes but 4 were given/,
  );
  await assert.rejects(
    writeSafetensors(join(dir, 'dup.safetensors'), [
      { key: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
      { key: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
    ]),
    /'a' is given twice/,
  );
});

test('a file whose header shape disagrees with its byte span is refused, naming the key', async () => {
  const dir = await tempDir();
  const path = join(dir, 'lying.safetensors');
  // Built by hand: 'blocks.0.norm1.weight' claims [48] F32 (192 bytes) but spans 96.
  const header = Buffer.from(JSON.stringify({ 'blocks.0.norm1.weight': { dtype: 'F32', shape: [48], data_offsets: [0, 96] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  await writeFile(path, Buffer.concat([len, header, Buffer.alloc(96)]));
  await assert.rejects(SafetensorsFile.open(path), (e: Error) => {
    assert.match(e.message, /lying\.safetensors/);
    assert.match(e.message, /'blocks\.0\.norm1\.weight' F32\[48\] needs 192 bytes but data_offsets span 96/);
    return true;
  });
});
