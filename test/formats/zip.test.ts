import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZipReader, ZIP_DEFLATED } from '../../src/formats/zip.js';
import { writeZip } from '../../src/formats/zipWriter.js';
import { findPython, MODELS, runPython, sameBytes, tempDir } from './helpers.js';

const python = findPython();
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** name → sha256 of its contents, as Python's zipfile reads them. */
function pythonDigests(path: string): Record<string, string> {
  const out = runPython(
    python!,
    'import hashlib, json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nprint(json.dumps({i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}))',
    [path],
  );
  return JSON.parse(out) as Record<string, string>;
}

test('reads the entries of a real torch.save archive, with data offsets resolved from local headers', async () => {
  const zip = await ZipReader.open(join(MODELS, 'tiny-mlp.pth'));
  try {
    const names = zip.entries().map((e) => e.name);
    assert.ok(names.includes('tiny-mlp/data.pkl'));
    assert.equal(Buffer.from(await zip.read(zip.get('tiny-mlp/version')!)).toString(), '3\n');
    const file = await readFile(join(MODELS, 'tiny-mlp.pth'));
    for (const e of zip.entries()) {
      // torch pads local headers so that every record starts 64-byte aligned.
      assert.equal(e.dataOffset % 64, 0, e.name);
      assert.ok(sameBytes(file.subarray(e.dataOffset, e.dataOffset + e.size), await zip.read(e)), e.name);
    }
    if (python) {
      const expected = pythonDigests(join(MODELS, 'tiny-mlp.pth'));
      assert.deepEqual(names.sort(), Object.keys(expected).sort());
      for (const e of zip.entries()) assert.equal(sha(await zip.read(e)), expected[e.name], e.name);
    }
  } finally {
    await zip.close();
  }
});

for (const zip64 of ['auto', 'always'] as const) {
  test(`written archives (zip64 ${zip64}) read back here and in Python's zipfile`, async () => {
    const dir = await tempDir();
    const path = join(dir, `w-${zip64}.zip`);
    const contents = new Map<string, Uint8Array>([
      ['archive/a.bin', new Uint8Array(1000).map((_, i) => (i * 7) & 255)],
      ['archive/empty', new Uint8Array(0)],
      ['archive/ünïcode', Buffer.from('hello')],
    ]);
    await writeZip(path, async (z) => {
      for (const [n, d] of contents) await z.add(n, d);
    }, { zip64 });
    const zip = await ZipReader.open(path);
    try {
      assert.deepEqual(zip.entries().map((e) => e.name), [...contents.keys()]);
      for (const [n, d] of contents) {
        const e = zip.get(n)!;
        assert.equal(e.dataOffset % 64, 0);
        assert.ok(sameBytes(await zip.read(e), d), n);
      }
      assert.ok(sameBytes(await zip.readRange(zip.get('archive/a.bin')!, 10, 5), contents.get('archive/a.bin')!.subarray(10, 15)));
    } finally {
      await zip.close();
    }
    if (python) {
      const digests = pythonDigests(path);
      for (const [n, d] of contents) assert.equal(digests[n], sha(d), n);
    }
  });
}

test('inflates deflated entries (as written by Python zipfile)', { skip: !python && 'no python3' }, async () => {
  const dir = await tempDir();
  const path = join(dir, 'deflated.zip');
  runPython(python!, "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n  z.writestr('a/data/0', bytes(range(256)) * 40)", [path]);
  const zip = await ZipReader.open(path);
  try {
    const e = zip.get('a/data/0')!;
    assert.equal(e.method, ZIP_DEFLATED);
    assert.ok(e.compressedSize < e.size);
    const expected = new Uint8Array(256 * 40).map((_, i) => i & 255);
    assert.ok(sameBytes(await zip.read(e), expected));
    await assert.rejects(zip.readRange(e, 0, 4), /compressed/);
  } finally {
    await zip.close();
  }
});

test('a truncated archive is reported as such, naming the file', async () => {
  const dir = await tempDir();
  const bytes = await readFile(join(MODELS, 'tiny-mlp.pth'));
  for (const keep of [bytes.length >> 1, bytes.length - 10, 100]) {
    const path = join(dir, `cut-${keep}.pth`);
    await writeFile(path, bytes.subarray(0, keep));
    await assert.rejects(ZipReader.open(path), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: truncated or not a zip file (no end-of-central-directory record)`), e.message);
      return true;
    });
  }
});

test('a damaged stored entry fails its CRC check', async () => {
  const dir = await tempDir();
  const bytes = Buffer.from(await readFile(join(MODELS, 'tiny-mlp.pth')));
  const path = join(dir, 'flipped.pth');
  const probe = await ZipReader.open(join(MODELS, 'tiny-mlp.pth'));
  const e = probe.get('tiny-mlp/data/1')!;
  await probe.close();
  bytes[e.dataOffset + 5]! ^= 0xff;
  await writeFile(path, bytes);
  const zip = await ZipReader.open(path);
  try {
    await assert.rejects(zip.read(zip.get('tiny-mlp/data/1')!), /flipped\.pth: entry 'tiny-mlp\/data\/1' is corrupt \(CRC mismatch\)/);
  } finally {
    await zip.close();
  }
});
