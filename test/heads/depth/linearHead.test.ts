/** The linear depth head (BNHead): layout, bins, file loading and the errors for wrong files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openDecodeHead } from '../../../src/heads/headFile.js';
import { bnHeadStateDictShapes, depthBins, hubLinearDepthHeadConfig } from '../../../src/heads/depth/bnHead.js';
import { torchLinspaceFloat32 as linspaceFloat32 } from '../../../src/core/torchLinspace.js';
import { centerPad, centerPadding } from '../../../src/heads/depth/centerPadding.js';
import { Depther, depthHeadFromSource, depthOutIndex } from '../../../src/heads/depth/depther.js';
import { dptHeadStateDictShapes, hubDptHeadConfig } from '../../../src/heads/depth/dptHead.js';
import { resizeBilinear } from '../../../src/heads/resize.js';
import { segHeadStateDictShapes } from '../../../src/heads/segmentation/linearHead.js';
import { Dinov2 } from '../../../src/index.js';
import { Tensor } from '../../../src/core/tensor.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';
import { findTorchPython, LEGACY_PICKLE, runPython, safetensorsWithHeaderLength } from '../../formats/helpers.js';
import { uniform, writeHead } from './helpers.js';

const python = findTorchPython();
const TINY = join(CONFORMANCE_DIR, 'models/tiny-d4.safetensors');

test('conv_depth takes 2·D·L channels: the released S/B/L/g heads', () => {
  const expected: Record<number, [number, number]> = { 384: [768, 3072], 768: [1536, 6144], 1024: [2048, 8192], 1536: [3072, 12288] };
  for (const [D, [one, four]] of Object.entries(expected)) {
    assert.deepEqual(bnHeadStateDictShapes(hubLinearDepthHeadConfig(Number(D), 1)).get('decode_head.conv_depth.weight'), [256, one, 1, 1]);
    assert.deepEqual(bnHeadStateDictShapes(hubLinearDepthHeadConfig(Number(D), 4)).get('decode_head.conv_depth.weight'), [256, four, 1, 1]);
  }
  // The hub's hard-coded range, whatever the weights (NYU or KITTI).
  assert.deepEqual([hubLinearDepthHeadConfig(384, 4).minDepth, hubLinearDepthHeadConfig(384, 4).maxDepth], [0.001, 80]);
});

test('out_index: the hub tables for 12/24/40 blocks, the last block for one layer', () => {
  assert.deepEqual(depthOutIndex(12, 4), [2, 5, 8, 11]);
  assert.deepEqual(depthOutIndex(24, 4), [4, 11, 17, 23]);
  assert.deepEqual(depthOutIndex(40, 4), [9, 19, 29, 39]);
  assert.deepEqual(depthOutIndex(24, 1), [23]);
  assert.throws(() => depthOutIndex(12, 2), /1 or 4 layers/);
});

test('CenterPadding pads the smaller half first, to the next multiple', () => {
  assert.deepEqual(centerPad(50, 14), [3, 3]);
  assert.deepEqual(centerPad(51, 14), [2, 3]);
  assert.deepEqual(centerPad(56, 14), [0, 0]);
  const x = Tensor.float32([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
  const p = centerPadding(x, 4);
  assert.deepEqual(p.shape, [1, 1, 4, 4]);
  assert.deepEqual(Array.from(p.data), [0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0]);
});

test('bins, host bilinear resize and padding match PyTorch', { skip: !python && 'no Python with torch' }, () => {
  const x = uniform(2 * 5 * 7, 3);
  const cases: [number, number, boolean][] = [[13, 29, false], [3, 4, false], [10, 14, true], [5, 7, false]];
  const script = `import sys, json, torch, torch.nn.functional as F
x = torch.tensor(json.loads(sys.argv[1])).reshape(2, 5, 7)[None]
out = {"bins": torch.linspace(0.001, 80, 256).tolist(), "bins10": torch.linspace(0.001, 10, 256).tolist(), "odd": torch.linspace(-1.5, 7.25, 37).tolist()}
for H, W, ac in json.loads(sys.argv[2]):
    out[f"{H},{W},{ac}"] = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=ac).flatten().tolist()
print(json.dumps(out))`;
  const ref = JSON.parse(runPython(python!, script, [JSON.stringify(Array.from(x)), JSON.stringify(cases)])) as Record<string, number[]>;
  assert.deepEqual(Array.from(linspaceFloat32(0.001, 80, 256)), ref['bins']!.map(Math.fround), 'linspace(0.001, 80) bit for bit');
  const odd = linspaceFloat32(-1.5, 7.25, 37);
  assert.ok(ref['odd']!.every((v, i) => Math.abs(v - odd[i]!) <= 1e-6), 'linspace with a scalar tail');
  assert.deepEqual(Array.from(depthBins({ binsStrategy: 'UD', minDepth: 0.001, maxDepth: 10, nBins: 256 })), ref['bins10']!.map(Math.fround));
  for (const [H, W, ac] of cases) {
    const ours = resizeBilinear(Tensor.float32(x, [1, 2, 5, 7]), H, W, ac).data;
    const theirs = ref[`${H},${W},${ac ? 'True' : 'False'}`]!;
    const err = Math.max(...theirs.map((v, i) => Math.abs(v - ours[i]!)));
    assert.ok(err < 1e-6, `${H}×${W} align_corners=${ac}: ${err}`);
  }
});

test('a released-layout linear head file (.pth with state_dict, or .safetensors) loads and predicts depth at the input size', async () => {
  await withTempDir(async (dir) => {
    const backbone = await Dinov2.load(TINY);
    try {
      for (const [file, layers] of [['lin1.pth', 1], ['lin4.safetensors', 4]] as const) {
        const path = join(dir, file);
        await writeHead(path, bnHeadStateDictShapes(hubLinearDepthHeadConfig(48, layers)), layers, file.endsWith('.pth') ? 'state_dict.' : '');
        const source = await openDecodeHead(path);
        const { head, store } = depthHeadFromSource(source, 48);
        assert.equal(head.kind, 'linear');
        assert.equal(head.kind === 'linear' && head.config.layers, layers);
        const depther = new Depther(backbone, head, store);
        assert.deepEqual(depther.outIndex, layers === 1 ? [3] : [0, 1, 2, 3]);
        const depth = await depther.predict(Tensor.float32(uniform(3 * 45 * 61, 9), [1, 3, 45, 61]));
        assert.deepEqual(depth.shape, [1, 1, 45, 61]);
        assert.ok(depth.data.every((v) => v >= 0.001 && v <= 80));
        await depther.dispose();
        await source.close();
      }
    } finally {
      await backbone.dispose();
    }
  });
});

test('wrong head files fail naming the file and the key', async () => {
  await withTempDir(async (dir) => {
    const load = async (name: string, shapes: ReadonlyMap<string, readonly number[]>, embedDim = 48) => {
      const path = join(dir, name);
      await writeHead(path, shapes);
      const source = await openDecodeHead(path);
      try {
        return depthHeadFromSource(source, embedDim);
      } finally {
        await source.close();
      }
    };
    // A ViT-S/14 head on a 48-dim backbone: the channel count says which backbone it belongs to.
    await assert.rejects(load('vits_linear4.pth', bnHeadStateDictShapes(hubLinearDepthHeadConfig(384, 4))), (e: Error) => {
      assert.match(e.message, /vits_linear4\.pth: decode_head\.conv_depth\.weight has shape \[256, 3072, 1, 1\].*embed_dim 48/);
      return true;
    });
    await assert.rejects(load('vits_dpt.pth', dptHeadStateDictShapes(hubDptHeadConfig(384, 0.001, 10))), /vits_dpt\.pth: a DPT depth head for embed_dim 384.*backbone has embed_dim 48/);
    // A segmentation head is not a depth head.
    await assert.rejects(
      load('seg.pth', new Map([...segHeadStateDictShapes({ embedDim: 48, layers: 1, numClasses: 5, bnEps: 1e-5 })].filter(([k]) => !k.endsWith('tracked')))),
      /seg\.pth: missing key 'decode_head\.conv_depth\.weight'/,
    );
    // Extra and missing keys are listed by name.
    const extra = new Map(bnHeadStateDictShapes(hubLinearDepthHeadConfig(48, 1)));
    extra.set('decode_head.bn.weight', [96]);
    await assert.rejects(load('extra.pth', extra), /extra\.pth: unexpected key 'decode_head\.bn\.weight'.*\n\(expected a 1-layer linear depth head/s);
    const dpt = dptHeadStateDictShapes(hubDptHeadConfig(48, 0.001, 10));
    dpt.delete('decode_head.fusion_blocks.2.project.conv.bias');
    dpt.set('decode_head.convs.1.conv.weight', [256, 7, 3, 3]);
    await assert.rejects(load('broken_dpt.pth', dpt), (e: Error) => {
      assert.match(e.message, /broken_dpt\.pth: 2 problems/);
      assert.match(e.message, /missing key 'decode_head\.fusion_blocks\.2\.project\.conv\.bias'/);
      assert.match(e.message, /key 'decode_head\.convs\.1\.conv\.weight' has shape \[256, 7, 3, 3\] but the model expects \[256, 12, 3, 3\]/);
      return true;
    });
    // A backbone checkpoint is not a head at all.
    await assert.rejects(openDecodeHead(TINY), /tiny-d4\.safetensors: no 'decode_head\.\*' tensors, so this is not a DINOv2 depth or segmentation head \(it holds /);
  });
});

test('a head file\'s format is sniffed as openWeights does: a safetensors starting with \'PK\' is not a zip, a bare pickle is legacy', async () => {
  await withTempDir(async (dir) => {
    const pk = join(dir, 'pk_head.pth');
    await writeFile(pk, safetensorsWithHeaderLength({ 'state_dict.decode_head.conv_depth.bias': [3] }, 0x4b50));
    const source = await openDecodeHead(pk);
    try {
      assert.equal(source.format, 'safetensors');
      assert.deepEqual(source.keys(), ['decode_head.conv_depth.bias']);
      assert.deepEqual(source.entry('decode_head.conv_depth.bias')!.shape, [3]);
    } finally {
      await source.close();
    }
    const legacy = join(dir, 'legacy_head.pth');
    await writeFile(legacy, LEGACY_PICKLE);
    await assert.rejects(openDecodeHead(legacy), { message: `${legacy}: legacy torch.save format (a bare pickle, from torch < 1.6); re-save with torch >= 1.6` });
    await assert.rejects(openDecodeHead(join(dir, 'nope.pth')), /nope\.pth: cannot open the head file \(ENOENT/);
    await assert.rejects(openDecodeHead(dir), /is a folder; a head is one \.pth or \.safetensors file/);
  });
});
