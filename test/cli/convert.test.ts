import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { convertCheckpoint, convertTarget } from '../../src/apps/convert.js';
import { openWeights } from '../../src/formats/open.js';
import { encodeFloat32 } from '../../src/formats/tensorItem.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';

const MODELS = join(CONFORMANCE_DIR, 'models');
const TINY = ['tiny-mlp', 'tiny-swiglu', 'tiny-reg4', 'tiny-d4'];

/** runCli with stderr kept out of the test output (returned instead). */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const saved = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => (chunks.push(String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await runCli(args), stderr: chunks.join('') };
  } finally {
    process.stderr.write = saved;
  }
}

for (const name of TINY) {
  test(`convert ${name}: .pth → .safetensors → HF folder → .pth keeps every tensor bit for bit`, async () => {
    await withTempDir(async (dir) => {
      const original = join(MODELS, `${name}.pth`);
      const st = join(dir, 'a.safetensors');
      const hf = join(dir, 'hf');
      const back = join(dir, 'b.pth');
      for (const [from, to] of [[original, st], [st, hf], [hf, back]] as const) {
        const r = await cli(['convert', from, to]);
        assert.equal(r.code, 0, r.stderr);
      }
      assert.ok(JSON.parse(await readFile(join(hf, 'config.json'), 'utf8')).model_type.startsWith('dinov2'));
      const a = await openWeights(original);
      const b = await openWeights(back);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const key of a.keys()) {
        const ea = a.entry(key)!;
        const eb = b.entry(key)!;
        assert.equal(eb.dtype, ea.dtype, key);
        assert.deepEqual(eb.shape, ea.shape, key);
        assert.ok(Buffer.from(await a.readRaw(key)).equals(Buffer.from(await b.readRaw(key))), `${key} differs`);
      }
      await a.close();
      await b.close();
    });
  });
}

test('convert --dtype casts floating-point tensors with PyTorch rounding', async () => {
  await withTempDir(async (dir) => {
    const original = join(MODELS, 'tiny-reg4.safetensors');
    for (const [dtype, stored] of [['f16', 'F16'], ['bf16', 'BF16']] as const) {
      const out = join(dir, `${dtype}.pth`);
      await convertCheckpoint(original, out, { dtype });
      const a = await openWeights(original);
      const b = await openWeights(out);
      for (const key of a.keys()) {
        assert.equal(b.entry(key)!.dtype, stored);
        const expected = encodeFloat32(await a.readFloat32(key), stored, key);
        assert.ok(Buffer.from(await b.readRaw(key)).equals(Buffer.from(expected)), key);
      }
      await a.close();
      await b.close();
    }
  });
});

test('convert: formats from the extension or --to, and clear errors', async () => {
  assert.equal(convertTarget('x.pt'), 'pth');
  assert.equal(convertTarget('x.safetensors'), 'safetensors');
  assert.equal(convertTarget('out/dinov2-small'), 'hf');
  assert.equal(convertTarget('x.onnx'), 'onnx');
  assert.equal(convertTarget('x.weights', 'safetensors'), 'safetensors');
  assert.throws(() => convertTarget('x.weights'), /cannot tell the format from '\.weights'; give the target format/);
  const src = join(MODELS, 'tiny-mlp.pth');
  assert.match((await cli(['convert', src, '/tmp/x.weights'])).stderr, /use --to pth\|safetensors\|hf\|onnx/);
  assert.match((await cli(['convert', src, '/tmp/x.safetensors', '--height', '56'])).stderr, /apply to --to onnx only/);
  assert.match((await cli(['convert', src, '/tmp/x.onnx', '--height', '56'])).stderr, /both --height and --width/);
  assert.match((await cli(['convert', src, src])).stderr, /overwrite the input/);
  assert.equal((await cli(['convert', src, '/tmp/x.onnx', '--dtype', 'f8'])).code, 2);
});
