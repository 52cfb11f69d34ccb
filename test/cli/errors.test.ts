/** #13 item 9: errors that help — what a wrong file looks like, which option a missing head needs, short usage errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeFileKind } from '../../src/formats/open.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';

const PNG = join(CONFORMANCE_DIR, 'images', 'astronaut.png');
const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');

test('a PNG or ONNX file given as a model says what it looks like (not a bogus safetensors header length)', async () => {
  await withTempDir(async (dir) => {
    const info = await cli(['info', PNG]);
    assert.equal(info.code, 1);
    assert.match(info.stderr, /astronaut\.png: looks like a PNG image, not a checkpoint/);
    assert.doesNotMatch(info.stderr, /header length/);
    const embed = await cli(['embed', PNG, '--model', PNG, '--out', join(dir, 'f.npy'), '--quiet']);
    assert.equal(embed.code, 1);
    assert.match(embed.stderr, /looks like a PNG image, not a checkpoint/);

    const onnx = join(dir, 'tiny.onnx');
    assert.equal((await cli(['convert', MODEL, onnx])).code, 0);
    assert.match((await cli(['info', onnx])).stderr, /tiny\.onnx: looks like an ONNX model/);
    const json = join(dir, 'x.json');
    await writeFile(json, '{"a": 1}');
    assert.match((await cli(['info', json])).stderr, /looks like a JSON file, not a checkpoint/);
  });
});

test('describeFileKind: magic bytes', () => {
  const b = (...xs: number[]) => new Uint8Array(xs);
  assert.equal(describeFileKind(b(0xff, 0xd8, 0xff, 0xe0)), 'a JPEG image');
  assert.equal(describeFileKind(b(0x1f, 0x8b, 8, 0)), 'a gzip archive (unpack it first)');
  assert.equal(describeFileKind(new TextEncoder().encode('<!DOCTYPE html>')), 'an HTML/XML page (a failed download?)');
  assert.equal(describeFileKind(b(0, 1, 2, 3, 0xfe)), undefined);
});

test('a usage error prints the error and one hint line, not the whole help', async () => {
  const r = await cli(['embed', PNG]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, /required option '--out <file>' not specified/);
  assert.equal(lines[1], "(run 'dinov2 embed --help' for its options and examples)");
  assert.doesNotMatch(r.stderr + r.stdout, /Usage:/);
});

test('a released head that cannot be downloaded suggests --head FILE, not --weights', async () => {
  await withTempDir(async (dir) => {
    const saved = { TORCH_HOME: process.env.TORCH_HOME, HF_HOME: process.env.HF_HOME, HF_HUB_CACHE: process.env.HF_HUB_CACHE };
    process.env.TORCH_HOME = join(dir, 'torch');
    process.env.HF_HOME = join(dir, 'hf');
    delete process.env.HF_HUB_CACHE;
    try {
      const r = await cli(['depth', PNG, '--model', 'dinov2_vits14', '--head', 'nyu-linear', '--offline', '--out', join(dir, 'd.png')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot get dinov2_vits14_nyu_linear_head/);
      assert.match(r.stderr, /or give a local file instead: --head FILE/);
      assert.doesNotMatch(r.stderr, /--weights PATH/);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });
});
