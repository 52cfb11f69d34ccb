import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PthFile, writePth } from '../../src/formats/pth.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { sourceItems } from '../../src/formats/tensorItem.js';
import { writeZip } from '../../src/formats/zipWriter.js';
import { PickleBuilder } from '../../src/formats/pickleWriter.js';
import { MODELS, sameBytes, tempDir } from './helpers.js';

for (const model of ['tiny-mlp', 'tiny-swiglu', 'tiny-reg4', 'tiny-d4']) {
  test(`${model}.pth holds the same tensors as ${model}.safetensors, each referenced in place`, async () => {
    const pth = await PthFile.open(join(MODELS, `${model}.pth`));
    const st = await SafetensorsFile.open(join(MODELS, `${model}.safetensors`));
    const file = await readFile(join(MODELS, `${model}.pth`));
    try {
      assert.deepEqual([...pth.keys()].sort(), [...st.keys()].sort());
      for (const key of st.keys()) {
        const a = pth.entry(key)!;
        const b = st.entry(key)!;
        assert.equal(a.dtype, b.dtype, key);
        assert.deepEqual(a.shape, b.shape, key);
        const expected = await st.readRaw(key);
        assert.ok(sameBytes(await pth.readRaw(key), expected), key);
        assert.ok(a.extent, `${key} is contiguous and stored, so it has an extent`);
        assert.ok(sameBytes(file.subarray(a.extent.offset, a.extent.offset + a.extent.length), expected), `${key} extent`);
      }
    } finally {
      await Promise.all([pth.close(), st.close()]);
    }
  });
}

test('writePth → PthFile round trip keeps keys, order, dtypes and bytes', async () => {
  const dir = await tempDir();
  const st = await SafetensorsFile.open(join(MODELS, 'tiny-reg4.safetensors'));
  const path = join(dir, 'rt.pth');
  try {
    await writePth(path, [
      ...sourceItems(st),
      { key: 'extra.f16', dtype: 'F16', shape: [2], data: new Float32Array([1, -0.5]) },
      { key: 'extra.bf16', dtype: 'BF16', shape: [1, 1], data: new Float32Array([3]) },
      { key: 'extra.mask', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      { key: 'extra.i64', dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([-5n]).buffer) },
      { key: 'extra.empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    ]);
    const back = await PthFile.open(path);
    try {
      assert.deepEqual(back.keys(), [...st.keys(), 'extra.f16', 'extra.bf16', 'extra.mask', 'extra.i64', 'extra.empty']);
      for (const key of st.keys()) assert.ok(sameBytes(await back.readRaw(key), await st.readRaw(key)), key);
      assert.deepEqual([...(await back.readRaw('extra.f16'))], [0x00, 0x3c, 0x00, 0xb8]);
      assert.deepEqual([...(await back.readFloat32('extra.bf16'))], [3]);
      assert.equal(back.entry('extra.mask')!.dtype, 'BOOL');
      assert.deepEqual([...(await back.readRaw('extra.mask'))], [1, 0, 1]);
      assert.deepEqual(back.entry('extra.i64')!.shape, []);
      assert.deepEqual([...(await back.readFloat32('extra.i64'))], [-5]);
      assert.deepEqual(back.entry('extra.empty')!.shape, [0, 4]);
      for (const k of back.keys()) assert.equal(back.entry(k)!.extent!.offset % 64, 0, k);
    } finally {
      await back.close();
    }
  } finally {
    await st.close();
  }
});

/** A zip holding `archive/data.pkl` = `pickle` and the given storages. */
async function writeArchive(path: string, pickle: Uint8Array, storages: Record<string, Uint8Array> = {}, byteorder = 'little'): Promise<void> {
  await writeZip(path, async (z) => {
    await z.add('archive/data.pkl', pickle);
    await z.add('archive/byteorder', Buffer.from(byteorder));
    for (const [k, v] of Object.entries(storages)) await z.add(`archive/data/${k}`, v);
    await z.add('archive/version', Buffer.from('3\n'));
  });
}

/** `_rebuild_tensor_v2(storage '0' of 12 floats, offset, shape, stride, False, OrderedDict())`. */
function tensorCall(p: PickleBuilder, offset: number, shape: number[], stride: number[]): void {
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(12).tuple().binPersId();
  p.int(offset).intTuple(shape).intTuple(stride).bool(false).global('collections', 'OrderedDict').emptyTuple().reduce();
  p.tuple().reduce();
}

test('views into a shared storage (transposed, sliced, offset) read as PyTorch would materialize them', async () => {
  const dir = await tempDir();
  const path = join(dir, 'views.pth');
  const p = new PickleBuilder().proto(2).emptyDict().mark();
  p.str('teacher').emptyDict().mark();
  p.str('t');
  tensorCall(p, 0, [3, 2], [1, 3]); // the transpose of [[0,1,2],[3,4,5]]
  p.str('tail');
  tensorCall(p, 4, [2], [1]); // elements 4, 5
  p.str('rows');
  tensorCall(p, 1, [2, 2], [4, 1]); // [[1,2],[5,6]]
  p.str('bcast');
  tensorCall(p, 9, [2, 3], [0, 1]); // expand of [9,10,11]
  p.setItems().setItems().stop();
  await writeArchive(path, p.bytes(), { '0': new Uint8Array(Float32Array.from({ length: 12 }, (_, i) => i).buffer) });
  const f = await PthFile.open(path);
  try {
    assert.deepEqual(f.keys(), ['teacher.t', 'teacher.tail', 'teacher.rows', 'teacher.bcast']);
    assert.deepEqual([...(await f.readFloat32('teacher.t'))], [0, 3, 1, 4, 2, 5]);
    assert.deepEqual([...(await f.readFloat32('teacher.tail'))], [4, 5]);
    assert.deepEqual([...(await f.readFloat32('teacher.rows'))], [1, 2, 5, 6]);
    assert.deepEqual([...(await f.readFloat32('teacher.bcast'))], [9, 10, 11, 9, 10, 11]);
    assert.equal(f.entry('teacher.t')!.extent, undefined, 'a transposed view has no contiguous extent');
    assert.equal(f.entry('teacher.rows')!.extent, undefined);
    const tail = f.entry('teacher.tail')!.extent!;
    assert.equal(tail.length, 8);
    const file = await readFile(path);
    assert.deepEqual([...new Float32Array(file.buffer.slice(file.byteOffset + tail.offset, file.byteOffset + tail.offset + 8))], [4, 5]);
    assert.ok(f.tree instanceof Map && (f.tree as Map<string, unknown>).get('teacher') instanceof Map, 'the nesting is kept in tree');
  } finally {
    await f.close();
  }
});

test('a view reaching past its storage is refused, naming the tensor', async () => {
  const dir = await tempDir();
  const path = join(dir, 'overrun.pth');
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('w');
  tensorCall(p, 6, [2, 4], [4, 1]);
  p.setItems().stop();
  await writeArchive(path, p.bytes(), { '0': new Uint8Array(48) });
  await assert.rejects(PthFile.open(path), /overrun\.pth: tensor 'w' \(offset 6, shape \[2, 4\], stride \[4, 1\]\) reaches past the end of its storage of 12 elements/);
});

test('a truncated .pth is reported as truncated, naming the file', async () => {
  const dir = await tempDir();
  const bytes = await readFile(join(MODELS, 'tiny-mlp.pth'));
  const path = join(dir, 'x.pth');
  await writeFile(path, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
  await assert.rejects(PthFile.open(path), (e: Error) => {
    assert.equal(e.message, `${path}: truncated or not a zip file (no end-of-central-directory record)`);
    return true;
  });
});

test('a .pth whose pickle calls os.system is refused and nothing is executed', async () => {
  const dir = await tempDir();
  const marker = join(dir, 'pwned');
  const path = join(dir, 'evil.pth');
  const cmd = Buffer.from(`touch ${marker}`);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(cmd.length);
  // PROTO 2, GLOBAL 'os system', BINUNICODE cmd, TUPLE1, REDUCE, STOP — exactly what a hostile checkpoint holds.
  const pickle = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cos\nsystem\n'), Buffer.from('X'), len, cmd, Buffer.from([0x85, 0x52, 0x2e])]);
  await writeArchive(path, pickle);
  await assert.rejects(PthFile.open(path), {
    message: `${path}: refusing to load: the pickle references 'os.system', which is not allowed in a state dict`,
  });
  assert.equal(existsSync(marker), false);
});

test('big-endian archives and the legacy pre-1.6 format are refused with advice', async () => {
  const dir = await tempDir();
  const be = join(dir, 'be.pth');
  await writeArchive(be, new PickleBuilder().proto(2).emptyDict().stop().bytes(), {}, 'big');
  await assert.rejects(PthFile.open(be), /be\.pth: saved with byteorder 'big'; only little-endian/);
  const legacy = join(dir, 'legacy.pth');
  // torch < 1.6 wrote a bare pickle starting with the LONG1 magic number 0x1950a86a20f9469cfc6c.
  await writeFile(legacy, Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex'));
  await assert.rejects(PthFile.open(legacy), { message: `${legacy}: legacy torch.save format (a bare pickle, from torch < 1.6); re-save with torch >= 1.6` });
});

test('a storage missing from the archive is reported', async () => {
  const dir = await tempDir();
  const path = join(dir, 'nostorage.pth');
  const p = new PickleBuilder().proto(2).emptyDict().mark().str('w');
  tensorCall(p, 0, [12], [1]);
  p.setItems().stop();
  await writeArchive(path, p.bytes());
  await assert.rejects(PthFile.open(path), /tensor 'w' refers to storage '0', but the archive has no 'archive\/data\/0'/);
});
