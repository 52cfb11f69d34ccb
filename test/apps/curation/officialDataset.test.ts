/**
 * The curated list in the official loader's ImageNet22k layout: every sample's bytes at its offsets are the
 * image file, repeats share one stored copy, tarballs split at the size limit; Python's tarfile and numpy
 * read what is written (skipped only when /usr/bin/python3 lacks numpy); with DINOV2_REPO (opt-in) the
 * official ImageNet22k dataset class itself serves the images.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeOfficialDataset } from '../../../src/apps/curation/officialDataset.js';
import { withTempDir } from '../../helpers.js';
import { writeScene } from '../retrieval/images.js';

/** Records of entries.npy, parsed here from the format's definition (header length at byte 8, then the dict). */
function parseEntries(buf: Buffer): { cls: number; classId: string; start: number; end: number; filename: string }[] {
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const hlen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + hlen).toString('latin1');
  assert.equal((10 + hlen) % 64, 0, 'data 64-byte aligned');
  const m = /'class_id', '<U(\d+)'.*'filename', '<U(\d+)'.*'shape': \((\d+),\)/.exec(header)!;
  const [idW, nameW, n] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const rec = 12 + 4 * idW + 4 * nameW;
  const u = (o: number, w: number) => String.fromCodePoint(...Array.from({ length: w }, (_, i) => buf.readUInt32LE(o + 4 * i)).filter((c) => c !== 0));
  return Array.from({ length: n }, (_, i) => {
    const o = 10 + hlen + i * rec;
    return { cls: buf.readUInt32LE(o), classId: u(o + 4, idW), start: buf.readUInt32LE(o + 4 + 4 * idW), end: buf.readUInt32LE(o + 8 + 4 * idW), filename: u(o + 12 + 4 * idW, nameW) };
  });
}

test('writeOfficialDataset: ImageNet22k layout, bytes at the offsets, repeats, split tarballs, readable by tarfile/numpy and the official class', { timeout: 120000 }, async () => {
  await withTempDir(async (dir) => {
    const files: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = join(dir, `src${i}.${i % 2 ? 'png' : 'jpg'}`);
      await writeScene(p, i + 1, 60 + 20 * i, 50 + 10 * i);
      files.push(p);
    }
    const list = [files[0]!, files[1]!, files[2]!, files[0]!, files[3]!, files[4]!];
    const out = join(dir, 'dataset');
    // Room for about two of these images per tarball.
    const largest = Math.max(...(await Promise.all(files.map(async (f) => (await readFile(f)).length))));
    const r = await writeOfficialDataset(out, list, { maxTarBytes: 2 * (largest + 1024) + 1024 });
    assert.equal(r.samples, 6);
    assert.equal(r.images, 5);
    assert.ok(r.tarballs.length >= 2, `split: ${r.tarballs}`);
    assert.equal(r.datasetPath, `ImageNet22k:root=${out}:extra=${join(out, 'extra')}`);
    const entries = parseEntries(await readFile(join(out, 'extra', 'entries.npy')));
    assert.equal(entries.length, 6);
    for (const [i, e] of entries.entries()) {
      const tar = await readFile(join(out, `${e.classId}.tar`));
      assert.deepEqual(tar.subarray(e.start + 512, e.end), await readFile(list[i]!), `sample ${i}`);
      assert.equal(tar.subarray(e.start, e.start + 100).toString('latin1').replace(/\0+$/, ''), e.filename);
      assert.equal(r.tarballs[e.cls], `${e.classId}.tar`);
    }
    assert.deepEqual([entries[3]!.start, entries[3]!.classId], [entries[0]!.start, entries[0]!.classId]);
    await assert.rejects(writeOfficialDataset(join(dir, 'a:b'), list), /contains ':'/);
    await assert.rejects(writeOfficialDataset(join(dir, 'x'), [join(dir, 'missing.jpg')]), /cannot read .*missing\.jpg/);

    const PY = '/usr/bin/python3';
    if (spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status !== 0) return;
    const script = `
import sys, os, tarfile, numpy as np
out, files = sys.argv[1], sys.argv[2:]
e = np.load(os.path.join(out, "extra", "entries.npy"), mmap_mode="r")
ids = np.load(os.path.join(out, "extra", "class-ids.npy"), mmap_mode="r")
assert e.dtype.names == ("class_index", "class_id", "start_offset", "end_offset", "filename"), e.dtype
assert len(e) == len(files)
for i, f in enumerate(files):
    assert str(ids[e[i]["class_index"]]) == str(e[i]["class_id"])
    with tarfile.open(os.path.join(out, str(e[i]["class_id"]) + ".tar")) as t:
        m = t.getmember(str(e[i]["filename"]))
        assert m.offset == int(e[i]["start_offset"]) and m.size == int(e[i]["end_offset"]) - int(e[i]["start_offset"]) - 512
        assert t.extractfile(m).read() == open(f, "rb").read()
if os.environ.get("DINOV2_REPO"):
    sys.path.insert(0, os.environ["DINOV2_REPO"])
    from dinov2.data.datasets import ImageNet22k
    ds = ImageNet22k(root=out, extra=os.path.join(out, "extra"))
    assert len(ds) == len(files)
    for i, f in enumerate(files):
        assert ds.get_image_data(i) == open(f, "rb").read(), i
        img, target = ds[i]
        assert img.size[0] > 0
    print("official")
print("ok")
`;
    await writeFile(join(dir, 'check.py'), script);
    const res = spawnSync(PY, [join(dir, 'check.py'), out, ...list], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr.slice(-2000));
    assert.match(res.stdout, process.env['DINOV2_REPO'] ? /official\nok/ : /ok/);
  });
});
