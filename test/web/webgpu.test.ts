/**
 * dinov2-ts/web on onnxruntime-web's WebGPU backend, in headless Chromium without a GPU: Chromium ships
 * SwiftShader (a Vulkan implementation on the CPU) and, with --enable-unsafe-webgpu, exposes it as a WebGPU
 * adapter (a "fallback" adapter). The kernels are onnxruntime-web's WGSL shaders, so this tests the graph
 * the page builds for WebGPU and how tensors cross to and
 * from the GPU; only the speed is a GPU's. Skipped only when no Chromium is installed.
 *
 * Every comparison also checks that the GPU did the work: the page counts compute dispatches and records
 * the shader modules onnxruntime-web creates (GPU_PROBE), so a silent fallback to WASM fails the test.
 *
 * Attention: on SwiftShader, onnxruntime-web 1.30's fused attention kernel for sequences of more than a few
 * tokens (its "FlashAttention" prefill shader, which both the Attention and the MultiHeadAttention op use)
 * gives tokens 0.1–0.4 away from Node's, with or without the adapter's subgroups feature, while its
 * decode-path kernels (short sequences) and attention from standard operators (MatMul, Softmax) are exact
 * (~3e-6). The same fused op on an NVIDIA H100 (onnxruntime-node's WebGPU provider) was exact (bench/
 * RESULTS.md). So the page's default on WebGPU is attention from standard operators (src/web/index.ts),
 * which the comparisons here run with the default options; the fused kernel's comparison (attentionKernel
 * 'Attention') is kept as a todo test, which reports without failing the suite.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONFORMANCE_DIR } from '../helpers.js';
import {
  CHROMIUM_WEBGPU_ARGS,
  compare,
  findChromium,
  GPU_PROBE,
  gpuActivity,
  IMAGES,
  manifestConfig,
  nodeInputs,
  NON_SQUARE,
  openWebFixture,
  PAGE_HELPERS,
  pageFeatures,
  TINY,
  writeRandomBackbone,
  type WebFixture,
} from './browserHelpers.js';
import { decodeImage } from '../../src/data/decode.js';
import { loadBackbone } from '../../src/models/load.js';
import type { RgbImage } from '../../src/data/image.js';

const chromiumPath = findChromium();
const skip = chromiumPath ? false : 'chromium is not installed';
/** The page's defaults on WebGPU: attention from standard operators (see above). */
const WEBGPU = { device: 'webgpu', cache: false };

/** The page's answer to device 'auto', and what running a tiny model with it did on the GPU. */
async function autoDevice(f: WebFixture): Promise<{ chosen: string; dispatches: number; cls: number }> {
  return f.page.evaluate(async () => {
    const w = await import('/lib/dinov2-web.js' as string);
    const gpu = (window as unknown as { __gpu: { dispatches: number } }).__gpu;
    const chosen = await w.chooseDevice('auto');
    const before = gpu.dispatches;
    const model = await w.loadDinov2('/conformance/models/tiny-mlp.safetensors', { device: 'auto', config: { num_heads: 3 }, cache: false });
    const out = await model.forwardFeatures(new w.Tensor('float32', new Float32Array(3 * 28 * 28).fill(0.5), [1, 3, 28, 28]));
    await model.dispose();
    return { chosen, dispatches: gpu.dispatches - before, cls: out.clsToken.data.length };
  });
}

describe('dinov2-ts/web in Chromium on WebGPU (SwiftShader software adapter)', { skip }, () => {
  let f: WebFixture;
  let images: RgbImage[];
  let inputs: ReturnType<typeof nodeInputs>;

  before(async () => {
    f = await openWebFixture({ '/conformance/': CONFORMANCE_DIR }, { chromiumArgs: CHROMIUM_WEBGPU_ARGS });
    await f.page.addScriptTag({ content: PAGE_HELPERS + GPU_PROBE });
    images = await Promise.all(IMAGES.map((name) => decodeImage(join(CONFORMANCE_DIR, 'images', name))));
    inputs = nodeInputs(images);
  });

  after(async () => {
    await f?.close();
  });

  test("the page has a WebGPU adapter, and device 'auto' picks 'webgpu' and runs there", async () => {
    const adapter = await f.page.evaluate(async () => {
      const a = await (navigator as unknown as { gpu: { requestAdapter(): Promise<{ info: { vendor: string; architecture: string } } | null> } }).gpu.requestAdapter();
      return a ? `${a.info.vendor}/${a.info.architecture}` : null;
    });
    assert.ok(adapter, 'no WebGPU adapter with --enable-unsafe-webgpu');
    console.log(`# WebGPU adapter: ${adapter}`);
    const auto = await autoDevice(f);
    assert.equal(auto.chosen, 'webgpu');
    assert.ok(auto.dispatches > 0, "device 'auto' ran nothing on the GPU");
    assert.equal(auto.cls, 48);
  });

  for (const name of TINY) {
    test(`${name} on WebGPU: CLS, register and patch tokens equal to Node's at 224 and ${NON_SQUARE.join('x')}`, async () => {
      const config = manifestConfig(name);
      const model = await loadBackbone(join(CONFORMANCE_DIR, 'models', `${name}.safetensors`), { config });
      try {
        const before = await gpuActivity(f.page);
        const page = await pageFeatures(f, `/conformance/models/${name}.safetensors`, { ...WEBGPU, config });
        const after = await gpuActivity(f.page);
        assert.ok(after.dispatches - before.dispatches > 20, `only ${after.dispatches - before.dispatches} GPU dispatches`);
        compare(`${name} WebGPU 224`, page.at224, await model.forwardFeatures(inputs.at224));
        compare(`${name} WebGPU ${NON_SQUARE.join('x')}`, page.nonSquare, await model.forwardFeatures(inputs.nonSquare));
      } finally {
        await model.dispose();
      }
    });
  }

  test('the patch embedding, matrix products, layer norms and softmax ran as WebGPU shaders', async () => {
    const { shaders } = await gpuActivity(f.page);
    for (const kernel of [/^Conv/, /^MatMul/, /^LayerNorm/, /^Softmax/]) {
      assert.ok(shaders.some((s) => kernel.test(s)), `no ${kernel} shader among ${shaders.join(', ')}`);
    }
  });

  test(`random ViT-S/14 on WebGPU: tokens equal to Node at 224 and ${NON_SQUARE.join('x')}`, async () => {
    // One image (SwiftShader runs a ViT-S forward in tens of seconds on two cores).
    const path = join(f.tmp, 'vits14-random.safetensors');
    await writeRandomBackbone(path, 'dinov2_vits14', 7);
    const model = await loadBackbone(path, { config: { num_heads: 6 } });
    try {
      const before = await gpuActivity(f.page);
      const page = await pageFeatures(f, '/tmp/vits14-random.safetensors', { ...WEBGPU, config: { num_heads: 6 } }, ['chelsea.png']);
      assert.ok((await gpuActivity(f.page)).dispatches - before.dispatches > 100, 'ViT-S did not run on the GPU');
      const one = nodeInputs([images[1]!]);
      compare('ViT-S/14 WebGPU 224', page.at224, await model.forwardFeatures(one.at224));
      compare(`ViT-S/14 WebGPU ${NON_SQUARE.join('x')}`, page.nonSquare, await model.forwardFeatures(one.nonSquare));
    } finally {
      await model.dispose();
    }
  });

  test("the fused attention kernel (attentionKernel 'Attention', opt-in on WebGPU) on SwiftShader: tokens equal to Node at 224", { todo: "onnxruntime-web 1.30's FlashAttention prefill shader is 0.1-0.4 off on SwiftShader" }, async () => {
    const config = manifestConfig('tiny-mlp');
    const model = await loadBackbone(join(CONFORMANCE_DIR, 'models/tiny-mlp.safetensors'), { config });
    try {
      const page = await pageFeatures(f, '/conformance/models/tiny-mlp.safetensors', { device: 'webgpu', attentionKernel: 'Attention', config, cache: false });
      assert.ok((await gpuActivity(f.page)).shaders.some((s) => /Attention/.test(s)), 'the fused attention kernel did not run');
      compare('tiny-mlp WebGPU fused attention 224', page.at224, await model.forwardFeatures(inputs.at224));
    } finally {
      await model.dispose();
    }
  });
});

describe('dinov2-ts/web in Chromium without a WebGPU adapter', { skip }, () => {
  let f: WebFixture;

  before(async () => {
    // The default arguments: no GPU process, so navigator.gpu exists but requestAdapter() gives null.
    f = await openWebFixture({ '/conformance/': CONFORMANCE_DIR });
    await f.page.addScriptTag({ content: PAGE_HELPERS + GPU_PROBE });
  });

  after(async () => {
    await f?.close();
  });

  test("device 'auto' picks 'cpu' (WASM); asking for 'webgpu' gives a clear error", async () => {
    const auto = await autoDevice(f);
    assert.equal(auto.chosen, 'cpu');
    assert.equal(auto.dispatches, 0);
    assert.equal(auto.cls, 48);
    const message = await f.page.evaluate(async () => {
      const w = await import('/lib/dinov2-web.js' as string);
      try {
        const model = await w.loadDinov2('/conformance/models/tiny-mlp.safetensors', { device: 'webgpu', config: { num_heads: 3 }, cache: false });
        await model.forwardFeatures(new w.Tensor('float32', new Float32Array(3 * 28 * 28), [1, 3, 28, 28]));
        return '(no error)';
      } catch (e) {
        return (e as Error).message;
      }
    });
    assert.match(message, /device 'webgpu' is not available in this browser/);
  });
});
