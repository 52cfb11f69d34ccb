/** The linear segmentation head: official layout, numerics against PyTorch, inference modes and wrong files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compileGraph } from '../../../src/graph/runtime.js';
import { openDecodeHead } from '../../../src/heads/headFile.js';
import { bnHeadStateDictShapes, hubLinearDepthHeadConfig } from '../../../src/heads/depth/bnHead.js';
import { buildSegHeadGraph, Segmenter } from '../../../src/heads/segmentation/segmenter.js';
import { segHeadFromSource, segHeadStateDictShapes, segOutIndex, type LinearSegHeadConfig } from '../../../src/heads/segmentation/linearHead.js';
import { Dinov2 } from '../../../src/index.js';
import { Tensor } from '../../../src/core/tensor.js';
import { resize } from '../../../src/data/resample.js';
import { normalize, toTensor } from '../../../src/data/transforms.js';
import { resizeBilinear } from '../../../src/heads/resize.js';
import { writePth } from '../../../src/formats/pth.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';
import { findTorchPython, runPython } from '../../formats/helpers.js';
import { randomItems, uniform } from '../depth/helpers.js';
import { makeSample } from './helpers.js';

const python = findTorchPython();

/** A head file in the released layout (mmcv checkpoint: everything under `state_dict.`). */
async function writeSegHead(path: string, cfg: LinearSegHeadConfig, seed = 1, drop: string[] = []): Promise<void> {
  const shapes = new Map([...segHeadStateDictShapes(cfg)].filter(([k]) => !k.endsWith('num_batches_tracked') && !drop.includes(k)));
  const items = randomItems(shapes, seed, 'state_dict.');
  if (!drop.includes('decode_head.bn.num_batches_tracked')) {
    items.push({ key: 'state_dict.decode_head.bn.num_batches_tracked', dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([40000n]).buffer) });
  }
  await writePth(path, items);
}

test('released head layouts: linear reads the last block (C = D), ms the last four (C = 4D)', () => {
  for (const D of [384, 768, 1024, 1536]) {
    const lin = segHeadStateDictShapes({ embedDim: D, layers: 1, numClasses: 150, bnEps: 1e-5 });
    assert.deepEqual([...lin.keys()].sort(), [
      'decode_head.bn.bias', 'decode_head.bn.num_batches_tracked', 'decode_head.bn.running_mean', 'decode_head.bn.running_var', 'decode_head.bn.weight',
      'decode_head.conv_seg.bias', 'decode_head.conv_seg.weight',
    ]);
    assert.deepEqual(lin.get('decode_head.conv_seg.weight'), [150, D, 1, 1]);
    assert.deepEqual(segHeadStateDictShapes({ embedDim: D, layers: 4, numClasses: 21, bnEps: 1e-5 }).get('decode_head.bn.running_var'), [4 * D]);
  }
  assert.deepEqual(segOutIndex(12, 1), [11]);
  assert.deepEqual(segOutIndex(24, 4), [20, 21, 22, 23]);
});

test('the head graph equals BatchNorm (eval) + conv_seg + bilinear resize in PyTorch', { skip: !python && 'no Python with torch' }, async () => {
  await withTempDir(async (dir) => {
    const cfg: LinearSegHeadConfig = { embedDim: 16, layers: 4, numClasses: 5, bnEps: 1e-5 };
    const headPath = join(dir, 'head.pth');
    await writeSegHead(headPath, cfg, 4);
    const source = await openDecodeHead(headPath);
    const { config, store } = segHeadFromSource(source, 16);
    assert.deepEqual(config, cfg);
    const graph = await compileGraph(buildSegHeadGraph(config, store));
    const feeds: Record<string, Tensor> = { out_size: new Tensor('int64', BigInt64Array.from([37n, 50n]), [2]) };
    const items = [];
    for (let i = 0; i < 4; i++) {
      feeds[`patch${i}`] = Tensor.float32(uniform(2 * 16 * 3 * 4, 50 + i), [2, 16, 3, 4]);
      items.push({ key: `patch${i}`, dtype: 'F32' as const, shape: [2, 16, 3, 4], data: feeds[`patch${i}`]!.data as Float32Array });
    }
    const inputs = join(dir, 'inputs.pth');
    await writePth(inputs, items);
    const ours = (await graph.run(feeds))['logits']!;
    await graph.dispose();
    await source.close();
    const script = `import sys, json, torch, torch.nn.functional as F
sd = {k[len("state_dict.decode_head."):]: v for k, v in torch.load(sys.argv[1]).items()}
inp = torch.load(sys.argv[2])
x = torch.cat([inp[f"patch{i}"] for i in range(4)], 1)
x = F.batch_norm(x, sd["bn.running_mean"], sd["bn.running_var"], sd["bn.weight"], sd["bn.bias"], training=False, eps=1e-5)
y = F.interpolate(F.conv2d(x, sd["conv_seg.weight"], sd["conv_seg.bias"]), size=(37, 50), mode="bilinear", align_corners=False)
print(json.dumps({"shape": list(y.shape), "values": y.flatten().tolist()}))`;
    const ref = JSON.parse(runPython(python!, script, [headPath, inputs])) as { shape: number[]; values: number[] };
    assert.deepEqual(ours.shape, ref.shape);
    const err = Math.max(...ref.values.map((v, i) => Math.abs(v - (ours.data as Float32Array)[i]!)));
    assert.ok(err < 2e-5, `max error ${err}`);
  });
});

test('whole, sliding-window and multi-scale + flip inference give a label per image pixel', async () => {
  await withTempDir(async (dir) => {
    const headPath = join(dir, 'dinov2_tiny_voc2012_linear_head.pth');
    await writeSegHead(headPath, { embedDim: 48, layers: 1, numClasses: 21, bnEps: 1e-5 });
    const backbone = await Dinov2.load(join(CONFORMANCE_DIR, 'models/tiny-mlp.safetensors'));
    const source = await openDecodeHead(headPath);
    const { config, store } = segHeadFromSource(source, 48);
    const seg = new Segmenter(backbone, config, store);
    try {
      const img = makeSample(3, 60).image;
      const whole = await seg.segment(img, { mode: 'whole', shortSide: 56 });
      assert.deepEqual([whole.width, whole.height, whole.labels.length, whole.numClasses], [60, 60, 3600, 21]);
      // One window covering the image is whole inference.
      const oneWindow = await seg.segment(img, { mode: 'slide', shortSide: 56, crop: 56 });
      assert.deepEqual(oneWindow.labels, whole.labels);
      const slid = await seg.segment(img, { mode: 'slide', shortSide: 56, crop: 28, stride: 14 });
      assert.equal(slid.labels.length, 3600);
      const ms = await seg.segment(img, { mode: 'whole', shortSide: 28, ratios: [1, 1.5], flip: true });
      assert.equal(ms.labels.length, 3600);
      assert.ok(ms.confidence.every((p) => p >= 1 / 21 - 1e-6 && p <= 1 + 1e-6), 'the chosen class has at least the uniform probability');
      // Whole-image inference by hand: the head's logits resized to the image, argmax per pixel.
      const x = normalize(toTensor(resize(img, 56, 56, 'bilinear'))).reshape([1, 3, 56, 56]);
      const logits = resizeBilinear(await seg.logits(x), 60, 60, false);
      let agree = 0;
      for (let p = 0; p < 3600; p++) {
        let best = 0;
        for (let k = 1; k < 21; k++) if (logits.data[k * 3600 + p]! > logits.data[best * 3600 + p]!) best = k;
        if (best === whole.labels[p]) agree++;
      }
      assert.ok(agree >= 3590, `${agree}/3600 pixels agree`);
    } finally {
      await seg.dispose();
      await source.close();
      await backbone.dispose();
    }
  });
});

test('wrong segmentation head files fail naming the file and the key', async () => {
  await withTempDir(async (dir) => {
    const check = async (name: string, write: (p: string) => Promise<void>, embedDim: number, pattern: RegExp) => {
      const path = join(dir, name);
      await write(path);
      const source = await openDecodeHead(path);
      try {
        assert.throws(() => segHeadFromSource(source, embedDim), pattern);
      } finally {
        await source.close();
      }
    };
    await check('vits_ade20k_ms.pth', (p) => writeSegHead(p, { embedDim: 384, layers: 4, numClasses: 150, bnEps: 1e-5 }), 768,
      /vits_ade20k_ms\.pth: decode_head\.conv_seg\.weight has shape \[150, 1536, 1, 1\], but .* embed_dim 768 needs \[classes, 768·layers, 1, 1\]/);
    await check('no_bn_stats.pth', (p) => writeSegHead(p, { embedDim: 48, layers: 1, numClasses: 3, bnEps: 1e-5 }, 1, ['decode_head.bn.running_var']), 48,
      /no_bn_stats\.pth: missing key 'decode_head\.bn\.running_var' \(the model expects \[48\]\)/);
    await check('depth.pth', (p) => writePth(p, randomItems(bnHeadStateDictShapes(hubLinearDepthHeadConfig(48, 1)))), 48,
      /depth\.pth: missing key 'decode_head\.conv_seg\.weight'/);
  });
});
