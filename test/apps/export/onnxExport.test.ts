import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { runCli } from '../../../src/cli/main.js';
import { exportOnnx } from '../../../src/apps/export/onnxExport.js';
import { loadBackbone } from '../../../src/models/load.js';
import { Tensor } from '../../../src/core/tensor.js';
import { CONFORMANCE_DIR, maxAbsDiff, withTempDir } from '../../helpers.js';

const MODELS = join(CONFORMANCE_DIR, 'models');
/** One non-square size (interpolated) and the native 56×56 (the official skip: the table as stored). */
const SIZES = [
  [42, 98],
  [56, 56],
] as const;

function pixels(b: number, h: number, w: number): Tensor<'float32'> {
  return Tensor.float32(Float32Array.from({ length: b * 3 * h * w }, (_, i) => Math.sin(i * 0.37) * 1.5), [b, 3, h, w]);
}

/** Runs an exported model with onnxruntime alone: no code of this library in the loop. */
async function runOnnx(path: string, x: Tensor<'float32'>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(path);
  try {
    return await session.run({ pixel_values: new ort.Tensor('float32', x.data, [...x.shape]) });
  } finally {
    await session.release();
  }
}

for (const name of ['tiny-mlp', 'tiny-reg4']) {
  test(`ONNX export of ${name}, fixed and dynamic, matches the library at ${SIZES.map((s) => s.join('×')).join(' and ')}`, async () => {
    const model = await loadBackbone(join(MODELS, `${name}.safetensors`));
    await withTempDir(async (dir) => {
      const dynamic = await exportOnnx(join(MODELS, `${name}.pth`), join(dir, 'dynamic.onnx'), { dynamic: true });
      for (const [h, w] of SIZES) {
        const fixed = await exportOnnx(join(MODELS, `${name}.pth`), join(dir, `fixed_${h}x${w}`), { height: h, width: w });
        assert.equal(fixed, join(dir, `fixed_${h}x${w}.onnx`));
        const x = pixels(2, h, w);
        const ref = await model.forwardFeatures(x);
        for (const path of [fixed, dynamic]) {
          const out = await runOnnx(path, x);
          assert.deepEqual(out['x_norm_regtokens']!.dims, [2, model.numRegisterTokens, 48]);
          assert.deepEqual(out['x_norm_patchtokens']!.dims, ref.patchTokens.shape);
          const pairs = [
            ['x_norm_clstoken', ref.clsToken],
            ['x_norm_regtokens', ref.regTokens],
            ['x_norm_patchtokens', ref.patchTokens],
            ['x_prenorm', ref.prenorm],
          ] as const;
          for (const [key, expected] of pairs) {
            assert.ok(maxAbsDiff(out[key]!.data as Float32Array, expected.data) <= 1e-4, `${path} ${key} at ${h}×${w}`);
          }
        }
      }
      // Small models are one self-contained file.
      assert.deepEqual((await readdir(dir)).sort(), ['dynamic.onnx', 'fixed_42x98.onnx', 'fixed_56x56.onnx']);
    });
    await model.dispose();
  });
}

test('ONNX export: external data, half-precision weights and transformers-style outputs', async () => {
  const model = await loadBackbone(join(MODELS, 'tiny-reg4.safetensors'));
  await withTempDir(async (dir) => {
    const x = pixels(1, 70, 42);
    const ref = await model.forwardFeatures(x);
    const ext = await exportOnnx(join(MODELS, 'tiny-reg4.safetensors'), join(dir, 'ext.onnx'), { dynamic: true, externalData: true, outputs: 'hidden' });
    assert.deepEqual((await readdir(dir)).sort(), ['ext.onnx', 'ext.onnx.data']);
    const hidden = await runOnnx(ext, x);
    assert.ok(maxAbsDiff(hidden['pooler_output']!.data as Float32Array, ref.clsToken.data) <= 1e-4);
    assert.deepEqual(hidden['last_hidden_state']!.dims, [1, 1 + 4 + 15, 48]);
    const normed = hidden['last_hidden_state']!.data as Float32Array;
    assert.ok(maxAbsDiff(normed.subarray(5 * 48), ref.patchTokens.data) <= 1e-4);

    const r = await runCli(['convert', join(MODELS, 'tiny-reg4.pth'), join(dir, 'half.onnx'), '--dtype', 'f16', '--dynamic']);
    assert.equal(r, 0);
    const half = await runOnnx(join(dir, 'half.onnx'), x);
    // float16 weights: close, not equal.
    const err = maxAbsDiff(half['x_norm_clstoken']!.data as Float32Array, ref.clsToken.data);
    assert.ok(err > 0 && err < 5e-2, `f16 error ${err}`);
  });
  await model.dispose();
});

test('ONNX export refuses fixed sizes off the patch grid', async () => {
  await assert.rejects(exportOnnx(join(MODELS, 'tiny-mlp.pth'), '/tmp/never.onnx', { height: 50, width: 56 }), /height must be a positive multiple of the patch size 14/);
  await assert.rejects(exportOnnx(join(MODELS, 'tiny-mlp.pth'), '/tmp/never.onnx', { height: 56 }), /width must be/);
});
