/**
 * dinov2-ts/web in headless Chromium (WASM backend): the same model and preprocessing as Node. Skipped only
 * when no Chromium is installed. The page loads the bundle that tools/buildWeb.ts builds, from a static
 * server on 127.0.0.1 that this test starts (with COOP/COEP, so WASM threads are on).
 */
import assert from 'node:assert/strict';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONFORMANCE_DIR, maxAbsDiff } from '../helpers.js';
import {
  compare,
  findChromium,
  fromBase64F32,
  IMAGES,
  manifestConfig,
  nodeInputs,
  NON_SQUARE,
  openWebFixture,
  PAGE_HELPERS,
  pageFeatures,
  TINY,
  TOLERANCE,
  writeRandomBackbone,
  type WebFixture,
} from './browserHelpers.js';
import { decodeImage } from '../../src/data/decode.js';
import { batchTensors, evalTransform } from '../../src/data/transforms.js';
import type { RgbImage } from '../../src/data/image.js';
import { loadBackbone } from '../../src/models/load.js';
import { hubConfig } from '../../src/models/config.js';
import { backboneStateDictShapes } from '../../src/models/stateDictShapes.js';
import { Tensor } from '../../src/core/tensor.js';
import { encodePng } from '../../src/formats/png.js';

const chromiumPath = findChromium();

describe('dinov2-ts/web in Chromium (WASM)', { skip: chromiumPath ? false : 'chromium is not installed' }, () => {
  let f: WebFixture;
  let images: RgbImage[];
  let inputs: ReturnType<typeof nodeInputs>;

  before(async () => {
    f = await openWebFixture({
      '/conformance/': CONFORMANCE_DIR,
      // A stand-in for the Hugging Face hub: /hub/<repo>/resolve/<revision>/<file>.
      '/hub/test/tiny-reg4/resolve/main/': join(CONFORMANCE_DIR, 'models/tiny-reg4-hf'),
      // The same files from a server that ignores Range requests.
      '/norange/': CONFORMANCE_DIR,
    }, { noRangesUnder: ['/norange/'] });
    await f.page.addScriptTag({ content: PAGE_HELPERS });
    images = await Promise.all(IMAGES.map((name) => decodeImage(join(CONFORMANCE_DIR, 'images', name))));
    inputs = nodeInputs(images);
  });

  after(async () => {
    await f?.close();
  });

  test('decoding and preprocessing of the four conformance images are byte-identical to Node', async () => {
    const page = await f.page.evaluate(
      async ({ images, size }) => {
        const w = await import('/lib/dinov2-web.js' as string);
        const b64 = (window as unknown as { __b64: (a: ArrayBufferView) => string }).__b64;
        const out = [];
        for (const name of images) {
          const img = await w.decodeImage(await (await fetch(`/conformance/images/${name}`)).blob(), { name });
          out.push({
            width: img.width,
            height: img.height,
            rgb: b64(img.data),
            eval: b64(w.evalTransform(img).data),
            nonSquare: b64(w.normalize(w.toTensor(w.resize(img, size[1], size[0], 'bicubic'))).data),
          });
        }
        return out;
      },
      { images: IMAGES, size: NON_SQUARE },
    );
    const per = (t: Tensor<'float32'>, i: number): Buffer => {
      const n = t.data.length / t.shape[0]!;
      return Buffer.from(t.data.buffer, t.data.byteOffset + i * n * 4, n * 4);
    };
    IMAGES.forEach((name, i) => {
      const p = page[i]!;
      assert.deepEqual([p.width, p.height], [images[i]!.width, images[i]!.height], `${name}: size`);
      assert.ok(Buffer.from(p.rgb, 'base64').equals(Buffer.from(images[i]!.data)), `${name}: decoded RGB bytes differ from Node's`);
      assert.ok(Buffer.from(p.eval, 'base64').equals(per(inputs.at224, i)), `${name}: eval transform differs from Node's`);
      assert.ok(Buffer.from(p.nonSquare, 'base64').equals(per(inputs.nonSquare, i)), `${name}: ${NON_SQUARE.join('x')} input differs from Node's`);
    });
  });

  test('alpha is dropped (not composited, colours of transparent pixels kept) and grey is replicated, as in Node', async () => {
    const [W, H] = [37, 23];
    const rgba = Uint8Array.from({ length: W * H * 4 }, (_, i) => (i % 4 === 3 ? (i * 7) % 256 : (i * 31 + (i >> 5)) % 256));
    const grey = Uint8Array.from({ length: W * H }, (_, i) => (i * 13) % 256);
    await writeFile(join(f.tmp, 'rgba.png'), encodePng({ width: W, height: H, data: rgba, channels: 4 }));
    await writeFile(join(f.tmp, 'grey.png'), encodePng({ width: W, height: H, data: grey, channels: 1 }));
    const page = await f.page.evaluate(async () => {
      const w = await import('/lib/dinov2-web.js' as string);
      const b64 = (window as unknown as { __b64: (a: ArrayBufferView) => string }).__b64;
      const get = async (name: string) => b64((await w.decodeImage(await (await fetch(`/tmp/${name}`)).blob())).data);
      return { rgba: await get('rgba.png'), grey: await get('grey.png') };
    });
    const expectedRgb = Uint8Array.from({ length: W * H * 3 }, (_, j) => rgba[Math.floor(j / 3) * 4 + (j % 3)]!);
    const expectedGrey = Uint8Array.from({ length: W * H * 3 }, (_, j) => grey[Math.floor(j / 3)]!);
    assert.ok(Buffer.from(page.rgba, 'base64').equals(Buffer.from(expectedRgb)), 'RGBA: the RGB samples as stored');
    assert.ok(Buffer.from(page.grey, 'base64').equals(Buffer.from(expectedGrey)), 'grey: replicated to R, G, B');
    const node = await decodeImage(join(f.tmp, 'rgba.png'));
    assert.ok(Buffer.from(node.data).equals(Buffer.from(expectedRgb)), 'Node agrees');
  });

  for (const name of TINY) {
    test(`${name}: CLS, register and patch tokens equal to Node's at 224 and ${NON_SQUARE.join('x')}`, async () => {
      const config = manifestConfig(name);
      const model = await loadBackbone(join(CONFORMANCE_DIR, 'models', `${name}.safetensors`), { config });
      try {
        const page = await pageFeatures(f, `/conformance/models/${name}.safetensors`, { device: 'cpu', config });
        compare(`${name} 224`, page.at224, await model.forwardFeatures(inputs.at224));
        compare(`${name} ${NON_SQUARE.join('x')}`, page.nonSquare, await model.forwardFeatures(inputs.nonSquare));
      } finally {
        await model.dispose();
      }
    });
  }

  test('the conformance forward_features cases (official PyTorch outputs, masks included) pass in the page', async () => {
    const result = await f.page.evaluate(async () => {
      const w = await import('/lib/dinov2-web.js' as string);
      const manifest = await (await fetch('/conformance/manifest.json')).json();
      const failures: string[] = [];
      let cases = 0;
      let worst = 0;
      for (const c of manifest.cases.filter((c: { kind: string }) => c.kind === 'backbone.forward_features')) {
        const { name: _name, ...config } = manifest.models[c.model].config;
        const model = await w.loadDinov2(`/conformance/${manifest.models[c.model].safetensors}`, { device: 'cpu', config, cache: false });
        const file = await w.SafetensorsSource.open(await w.urlSource(`/conformance/${c.file}`));
        const x = file.entry('input.x');
        const input = new w.Tensor('float32', await file.readFloat32('input.x'), x.shape);
        const masks = file.entry('input.masks') ? new w.Tensor('uint8', await file.readRaw('input.masks'), file.entry('input.masks').shape) : undefined;
        const out = await model.forwardFeatures(input, masks ? { masks } : {});
        const got: Record<string, Float32Array> = {
          x_norm_clstoken: out.clsToken.data,
          x_norm_regtokens: out.regTokens.data,
          x_norm_patchtokens: out.patchTokens.data,
          x_prenorm: out.prenorm.data,
        };
        for (const [key, actual] of Object.entries(got)) {
          if (!file.entry(`expected.${key}`)) continue;
          const expected = await file.readFloat32(`expected.${key}`);
          if (expected.length !== actual.length) failures.push(`${c.id} ${key}: ${actual.length} values, expected ${expected.length}`);
          for (let i = 0; i < expected.length; i++) {
            const err = Math.abs(actual[i] - expected[i]);
            worst = Math.max(worst, err);
            if (!(err <= c.atol + c.rtol * Math.abs(expected[i]))) {
              failures.push(`${c.id} ${key}[${i}]: ${actual[i]} vs ${expected[i]}`);
              break;
            }
          }
        }
        cases++;
        await model.dispose();
      }
      return { failures, cases, worst };
    });
    assert.deepEqual(result.failures, []);
    assert.ok(result.cases >= 8, `only ${result.cases} cases ran`);
    console.log(`# ${result.cases} conformance cases, max |err| ${result.worst.toExponential(2)}`);
  });

  test('weights passed as onnxruntime-web external data (the path of models over 2 GB) give the same tokens', async () => {
    const config = manifestConfig('tiny-swiglu');
    const model = await loadBackbone(join(CONFORMANCE_DIR, 'models/tiny-swiglu.safetensors'), { config });
    try {
      const page = await pageFeatures(f, '/conformance/models/tiny-swiglu.safetensors', { device: 'cpu', config, externalDataAbove: 0 });
      compare('tiny-swiglu external data 224', page.at224, await model.forwardFeatures(inputs.at224));
      // The weights really were external: without the external-data buffer the graph does not load.
      const withoutData = await f.page.evaluate(async (config) => {
        const w = await import('/lib/dinov2-web.js' as string);
        const m = await w.loadDinov2('/conformance/models/tiny-swiglu.safetensors', { device: 'cpu', config, externalDataAbove: 0, sessionOptions: { externalData: [] } });
        try {
          await m.forward(new w.Tensor('float32', new Float32Array(3 * 28 * 28), [1, 3, 28, 28]));
          return '(loaded)';
        } catch (e) {
          return (e as Error).message;
        } finally {
          await m.dispose();
        }
      }, config);
      assert.match(withoutData, /onnxruntime-web could not load graph/);
    } finally {
      await model.dispose();
    }
  });

  test('random ViT-S/14 read with Range requests: tokens equal to Node at 224 and non-square', async () => {
    const path = join(f.tmp, 'vits14-random.safetensors');
    await writeRandomBackbone(path, 'dinov2_vits14', 7);
    const model = await loadBackbone(path);
    try {
      const before = f.server.log.length;
      const page = await pageFeatures(f, '/tmp/vits14-random.safetensors', { device: 'cpu', cache: false });
      const requests = f.server.log.slice(before).filter((r) => r.path === '/tmp/vits14-random.safetensors');
      assert.ok(requests.length > 10 && requests.every((r) => r.status === 206), `expected Range requests only, got ${JSON.stringify(requests.slice(0, 3))}`);
      compare('ViT-S/14 224', page.at224, await model.forwardFeatures(inputs.at224));
      compare(`ViT-S/14 ${NON_SQUARE.join('x')}`, page.nonSquare, await model.forwardFeatures(inputs.nonSquare));
    } finally {
      await model.dispose();
    }
  });

  test('int8 in the page: as close to float32 as Node\'s int8 (7-bit weights), and really quantized', async () => {
    const path = join(f.tmp, 'vits14-int8.safetensors');
    await writeRandomBackbone(path, 'dinov2_vits14', 7);
    // The page cannot read the CPU's flags and always quantizes weights to 7 bits (web/cpuFeatures.ts).
    const int8 = await loadBackbone(path, { quantization: 'int8', int8Options: { weightLevels: 63 } });
    const fp32 = await loadBackbone(path);
    const rms = (a: Float32Array, b: Float32Array): number => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length);
    try {
      const page = await pageFeatures(f, '/tmp/vits14-int8.safetensors', { device: 'cpu', cache: false, quantization: 'int8' });
      for (const [size, x, got] of [['224', inputs.at224, page.at224], [NON_SQUARE.join('x'), inputs.nonSquare, page.nonSquare]] as const) {
        const node = await int8.forwardFeatures(x);
        const ref = await fp32.forwardFeatures(x);
        for (const [what, pageData, nodeData, refData] of [
          ['CLS', fromBase64F32(got.cls), node.clsToken.data, ref.clsToken.data],
          ['patch', fromBase64F32(got.patch), node.patchTokens.data, ref.patchTokens.data],
        ] as const) {
          // Not bit-equal to Node: onnxruntime-web's WASM kernels give another realisation of the same rounding
          // error (page − Node is 0.6–0.75× int8 − float32 in rms), so the page's error is held to Node's.
          const nodeErr = rms(nodeData, refData);
          const pageErr = rms(pageData, refData);
          console.log(`# int8 ${size} ${what}: rms vs float32 page ${pageErr.toExponential(2)}, Node ${nodeErr.toExponential(2)}; page vs Node ${rms(pageData, nodeData).toExponential(2)}`);
          assert.ok(nodeErr > 1e-3, `${size} ${what}: Node's int8 should differ from float32 (rms ${nodeErr})`);
          assert.ok(pageErr >= 0.5 * nodeErr && pageErr <= 1.25 * nodeErr, `${size} ${what}: page int8 rms error ${pageErr} against Node's ${nodeErr}`);
        }
      }
    } finally {
      await int8.dispose();
      await fp32.dispose();
      await rm(path, { force: true });
    }
  });

  test('random ViT-B/14: tokens equal to Node at 224', async () => {
    const path = join(f.tmp, 'vitb14-random.safetensors');
    await writeRandomBackbone(path, 'dinov2_vitb14', 11);
    const model = await loadBackbone(path);
    try {
      const page = await f.page.evaluate(async () => {
        const w = await import('/lib/dinov2-web.js' as string);
        const b64 = (window as unknown as { __b64: (a: Float32Array) => string }).__b64;
        const model = await w.loadDinov2('/tmp/vitb14-random.safetensors', { device: 'cpu', cache: false });
        const img = await w.decodeImage(await (await fetch('/conformance/images/chelsea.png')).blob());
        const out = await model.forwardFeatures(w.batchTensors([w.evalTransform(img)]));
        await model.dispose();
        return { cls: b64(out.clsToken.data), patch: b64(out.patchTokens.data), reg: b64(out.regTokens.data), shape: out.patchTokens.shape };
      });
      const x = batchTensors([evalTransform(images[1]!)]);
      compare('ViT-B/14 224', page, await model.forwardFeatures(x));
    } finally {
      await model.dispose();
      await rm(path, { force: true });
    }
  });

  test('ViT-g/14 in float32 (4.5 GB of weights, over the 4 GiB of WebAssembly memory) is refused with a clear error before its weights are read', async () => {
    // A sparse file of the real size: the safetensors header of a ViT-g/14, then a hole where the weights are.
    const path = join(f.tmp, 'vitg14-sparse.safetensors');
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [key, shape] of backboneStateDictShapes(hubConfig('dinov2_vitg14'))) {
      const length = shape.reduce((a, b) => a * b, 1) * 4;
      header[key] = { dtype: 'F32', shape, data_offsets: [offset, offset + length] };
      offset += length;
    }
    const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8, ' '));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    await writeFile(path, Buffer.concat([prefix, json]));
    await truncate(path, 8 + json.length + offset);
    assert.ok(offset > 4 * 2 ** 30, `ViT-g/14 weighs ${offset} bytes`);
    try {
      const before = f.server.log.length;
      const message = await f.page.evaluate(async () => {
        const w = await import('/lib/dinov2-web.js' as string);
        const model = await w.loadDinov2('/tmp/vitg14-sparse.safetensors', { device: 'cpu', cache: false });
        try {
          await model.forwardFeatures(new w.Tensor('float32', new Float32Array(3 * 224 * 224), [1, 3, 224, 224]));
          return '(no error)';
        } catch (e) {
          return (e as Error).message;
        } finally {
          await model.dispose();
        }
      });
      assert.match(message, /has 4\.\d\d GiB of weights: more than onnxruntime-web can hold \(its WebAssembly memory is at most 4 GiB/);
      // Only the header was read.
      const read = f.server.log.slice(before).filter((r) => r.path === '/tmp/vitg14-sparse.safetensors').map((r) => {
        const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
        assert.ok(m && r.status === 206, `not a Range request: ${JSON.stringify(r)}`);
        return Number(m[2]) - Number(m[1]) + 1;
      });
      const total = read.reduce((a, b) => a + b, 0);
      assert.ok(total < 8 * 2 ** 20, `the page read ${total} bytes of the file`);
    } finally {
      await rm(path, { force: true });
    }
  });

  test('a server that ignores Range requests: the file is downloaded whole, with progress', async () => {
    const config = manifestConfig('tiny-mlp');
    const model = await loadBackbone(join(CONFORMANCE_DIR, 'models/tiny-mlp.safetensors'), { config });
    try {
      const before = f.server.log.length;
      const page = await pageFeatures(f, '/norange/models/tiny-mlp.safetensors', { device: 'cpu', config, cache: false });
      const requests = f.server.log.slice(before).filter((r) => r.path === '/norange/models/tiny-mlp.safetensors');
      assert.deepEqual(requests.map((r) => r.status), [200]);
      assert.ok(page.progress.includes('download'));
      compare('tiny-mlp without Range 224', page.at224, await model.forwardFeatures(inputs.at224));
    } finally {
      await model.dispose();
    }
  });

  test('a Hugging Face repo id loads config.json + model.safetensors from the hub, then from the Cache API', async () => {
    const model = await loadBackbone(join(CONFORMANCE_DIR, 'models/tiny-reg4-hf'));
    try {
      const options = { device: 'cpu', hubEndpoint: `${f.server.url}/hub` };
      const first = await pageFeatures(f, 'test/tiny-reg4', options);
      compare('tiny-reg4-hf 224', first.at224, await model.forwardFeatures(inputs.at224));
      assert.ok(first.progress.includes('download'), `first load: ${first.progress.join(',')}`);
      const before = f.server.log.length;
      const second = await pageFeatures(f, 'test/tiny-reg4', options);
      assert.ok(second.progress.length > 0 && second.progress.every((p) => p === 'cache'), `second load: ${second.progress.join(',')}`);
      assert.equal(f.server.log.slice(before).filter((r) => r.path.startsWith('/hub/')).length, 0, 'the second load went to the network');
      assert.equal(second.at224.cls, first.at224.cls);
    } finally {
      await model.dispose();
    }
  });

  test('intermediate layers, attention maps and the PCA picture match Node', async () => {
    const path = join(CONFORMANCE_DIR, 'models/tiny-d4.safetensors');
    const model = await loadBackbone(path, { config: manifestConfig('tiny-d4') });
    try {
      const page = await f.page.evaluate(async () => {
        const w = await import('/lib/dinov2-web.js' as string);
        const b64 = (window as unknown as { __b64: (a: ArrayBufferView) => string }).__b64;
        const model = await w.loadDinov2('/conformance/models/tiny-d4.safetensors', { device: 'cpu', config: { num_heads: 3 } });
        const img = await w.decodeImage(await (await fetch('/conformance/images/chelsea.png')).blob());
        const x = w.batchTensors([w.evalTransform(img)]);
        const layers = await model.getIntermediateLayers(x, { n: [0, 2], reshape: true, returnClassToken: true });
        const attention = await new w.AttentionMaps(model).clsAttention(x);
        const picture = await w.pcaPicture(img, { model, dense: 140 });
        await model.dispose();
        return {
          layers: layers.map((l: { patchTokens: { data: Float32Array; shape: number[] }; clsToken: { data: Float32Array } }) => ({ patch: b64(l.patchTokens.data), shape: l.patchTokens.shape, cls: b64(l.clsToken.data) })),
          attention: b64(attention.patches.data),
          picture: { width: picture.width, height: picture.height, grid: picture.grid, side: picture.side.length, first: b64(new Float32Array(picture.firstComponent)) },
        };
      });
      const x = batchTensors([evalTransform(images[1]!)]);
      const layers = await model.getIntermediateLayers(x, { n: [0, 2], reshape: true, returnClassToken: true });
      layers.forEach((l, i) => {
        assert.deepEqual(page.layers[i]!.shape, l.patchTokens.shape);
        assert.ok(maxAbsDiff(fromBase64F32(page.layers[i]!.patch), l.patchTokens.data) <= TOLERANCE, `layer ${i} patch`);
        assert.ok(maxAbsDiff(fromBase64F32(page.layers[i]!.cls), l.clsToken!.data) <= TOLERANCE, `layer ${i} cls`);
      });
      const { AttentionMaps } = await import('../../src/heads/attentionMaps.js');
      const attention = await new AttentionMaps(model).clsAttention(x);
      assert.ok(maxAbsDiff(fromBase64F32(page.attention), attention.patches.data) <= TOLERANCE, 'attention');
      const { pcaPicture } = await import('../../src/eval/pcaMap.js');
      const picture = await pcaPicture(images[1]!, { model, dense: 140 });
      assert.deepEqual([page.picture.width, page.picture.height, page.picture.grid, page.picture.side], [picture.width, picture.height, picture.grid, picture.side.length]);
      // The first component is a projection of the tokens (float64 PCA of float32 tokens equal to 1e-4).
      assert.ok(maxAbsDiff(fromBase64F32(page.picture.first), Float32Array.from(picture.firstComponent)) <= 1e-3, 'PCA first component');
    } finally {
      await model.dispose();
    }
  });

  test('bad input gives a clear error: corrupt image, wrong size, unreachable or missing weights, truncated file', async () => {
    const truncated = (await readFile(join(CONFORMANCE_DIR, 'models/tiny-mlp.safetensors'))).subarray(0, 5000).toString('base64');
    const errors = await f.page.evaluate(async (truncated) => {
      const w = await import('/lib/dinov2-web.js' as string);
      const message = async (fn: () => Promise<unknown>): Promise<string> => {
        try {
          await fn();
          return '(no error)';
        } catch (e) {
          return (e as Error).message;
        }
      };
      const bytes = Uint8Array.from(atob(truncated), (c) => c.charCodeAt(0));
      const model = await w.loadDinov2('/conformance/models/tiny-mlp.safetensors', { device: 'cpu' });
      const out = {
        corrupt: await message(() => w.decodeImage(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5])], 'broken.png'))),
        empty: await message(() => w.decodeImage(new File([], 'empty.jpg'))),
        wrongSize: await message(() => model.forwardFeatures(new w.Tensor('float32', new Float32Array(3 * 225 * 225), [1, 3, 225, 225]))),
        unreachable: await message(() => w.loadDinov2('http://127.0.0.1:1/model.safetensors', { device: 'cpu' })),
        missing: await message(() => w.loadDinov2('/tmp/no-such-file.safetensors', { device: 'cpu' })),
        truncated: await message(() => w.loadDinov2(bytes.buffer, { device: 'cpu' })),
        nodeOnly: await message(() => w.Dinov2.load('dinov2_vits14')),
      };
      await model.dispose();
      return out;
    }, truncated);
    assert.match(errors.corrupt, /^broken\.png: cannot decode the image/);
    assert.match(errors.empty, /^empty\.jpg: cannot decode the image \(the file is empty\)/);
    assert.match(errors.wrongSize, /input height 225 is not a positive multiple of the patch size 14 \(nearest: 224 or 238\)/);
    assert.match(errors.unreachable, /^http:\/\/127\.0\.0\.1:1\/model\.safetensors: cannot fetch .*unreachable/);
    assert.match(errors.missing, /\/tmp\/no-such-file\.safetensors: HTTP 404/);
    assert.match(errors.truncated, /<weights buffer>: not a valid safetensors file: .*(truncated|does not fit)/);
    assert.match(errors.nodeOnly, /not available in a browser; use loadDinov2/);
  });
});
