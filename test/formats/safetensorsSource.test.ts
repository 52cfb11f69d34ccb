/** SafetensorsSource (any ByteSource: what the browser reads from) against SafetensorsFile (Node file handles). */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONFORMANCE_DIR } from '../helpers.js';
import { bytesSource } from '../../src/formats/byteSource.js';
import { SafetensorsFile, SafetensorsSource } from '../../src/formats/safetensors.js';

const path = join(CONFORMANCE_DIR, 'models/tiny-reg4.safetensors');

test('SafetensorsSource over bytes lists and reads every tensor as SafetensorsFile does', async () => {
  const bytes = new Uint8Array(await readFile(path));
  const source = await SafetensorsSource.open(bytesSource(bytes, 'mem.safetensors'));
  const file = await SafetensorsFile.open(path);
  try {
    assert.deepEqual(source.keys(), file.keys());
    assert.ok(source.keys().length > 20);
    for (const key of file.keys()) {
      const { extent: a, ...ea } = source.entry(key)!;
      const { extent: b, ...eb } = file.entry(key)!;
      assert.deepEqual(ea, eb, key);
      assert.deepEqual([a!.offset, a!.length, a!.path], [b!.offset, b!.length, 'mem.safetensors'], key);
      assert.deepEqual(await source.readRaw(key), new Uint8Array(await file.readRaw(key)), key);
      assert.deepEqual(await source.readFloat32(key), await file.readFloat32(key), key);
    }
    assert.equal(source.path, 'mem.safetensors');
  } finally {
    await file.close();
    await source.close();
  }
});

test('SafetensorsSource names the source in errors: short, truncated, bad header', async () => {
  const bytes = new Uint8Array(await readFile(path));
  await assert.rejects(SafetensorsSource.open(bytesSource(bytes.subarray(0, 5), 'a')), /^Error: a: not a valid safetensors file: file is 5 bytes, shorter than the 8-byte header length/);
  await assert.rejects(SafetensorsSource.open(bytesSource(bytes.subarray(0, 200), 'b')), /^Error: b: not a valid safetensors file: header length \d+ does not fit in a file of 200 bytes/);
  await assert.rejects(SafetensorsSource.open(bytesSource(bytes.subarray(0, bytes.length - 10), 'c')), /^Error: c: not a valid safetensors file: tensor '.*' ends at byte \d+ of the data section, which has \d+ bytes \(truncated\?\)/);
  const bad = new Uint8Array(16);
  new DataView(bad.buffer).setBigUint64(0, 8n, true);
  bad.set(new TextEncoder().encode('{"x": 1'), 8);
  await assert.rejects(SafetensorsSource.open(bytesSource(bad, 'd')), /^Error: d: not a valid safetensors file: header is not JSON/);
});
