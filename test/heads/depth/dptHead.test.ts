/** The DPT depth head: official key layout for S/B/L/g, runs at several input sizes, and matches the official module. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDecodeHead } from '../../../src/heads/headFile.js';
import { buildDepthHeadGraph, Depther, depthHeadFromSource } from '../../../src/heads/depth/depther.js';
import { dptHeadStateDictShapes, hubDptHeadConfig } from '../../../src/heads/depth/dptHead.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import { Dinov2 } from '../../../src/index.js';
import { Tensor } from '../../../src/core/tensor.js';
import { writePth } from '../../../src/formats/pth.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';
import { findTorchPython, runPython } from '../../formats/helpers.js';
import { OFFICIAL_REPO, uniform, writeHead } from './helpers.js';

const python = findTorchPython();
const skipOfficial = (!python && 'no Python with torch') || (!existsSync(join(OFFICIAL_REPO, 'dinov2/hub/depthers.py')) && `no official code at ${OFFICIAL_REPO}`);

test('DPT head keys and shapes follow the official layout (post-process channels D/8 … D)', () => {
  const expected: Record<number, number[]> = { 384: [48, 96, 192, 384], 768: [96, 192, 384, 768], 1024: [128, 256, 512, 1024], 1536: [192, 384, 768, 1536] };
  for (const [D, post] of Object.entries(expected)) {
    const shapes = dptHeadStateDictShapes(hubDptHeadConfig(Number(D), 0.001, 10));
    assert.equal(shapes.size, 56);
    post.forEach((c, i) => {
      assert.deepEqual(shapes.get(`decode_head.reassemble_blocks.projects.${i}.conv.weight`), [c, Number(D), 1, 1]);
      assert.deepEqual(shapes.get(`decode_head.convs.${i}.conv.weight`), [256, c, 3, 3]);
    });
    assert.deepEqual(shapes.get('decode_head.reassemble_blocks.readout_projects.3.0.weight'), [Number(D), 2 * Number(D)]);
    assert.equal(shapes.has('decode_head.fusion_blocks.0.res_conv_unit1.conv1.conv.weight'), false);
    assert.deepEqual(shapes.get('decode_head.conv_depth.head.4.weight'), [1, 32, 1, 1]);
  }
});

test('DPT head keys, order and shapes equal the official module for S/B/L/g', { skip: skipOfficial }, () => {
  const script = `import sys, json
sys.path.insert(0, sys.argv[1])
from dinov2.hub.depthers import _make_dinov2_dpt_depth_head
out = {}
for D in (384, 768, 1024, 1536):
    h = _make_dinov2_dpt_depth_head(embed_dim=D, min_depth=0.001, max_depth=10)
    out[D] = [["decode_head." + k, list(v.shape)] for k, v in h.state_dict().items()]
print(json.dumps(out))`;
  const official = JSON.parse(runPython(python!, script, [OFFICIAL_REPO])) as Record<string, [string, number[]][]>;
  for (const [D, entries] of Object.entries(official)) {
    const ours = [...dptHeadStateDictShapes(hubDptHeadConfig(Number(D), 0.001, 10))];
    assert.deepEqual(ours, entries, `D=${D}`);
  }
});

test('a DPT head file runs on a backbone at two input sizes and gives depth at the input size', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'dinov2_tiny_nyu_dpt_head.pth');
    await writeHead(path, dptHeadStateDictShapes(hubDptHeadConfig(48, 0.001, 10)));
    const backbone = await Dinov2.load(join(CONFORMANCE_DIR, 'models/tiny-d4.safetensors'));
    const source = await openDecodeHead(path);
    try {
      const { head, store } = depthHeadFromSource(source, backbone.embedDim);
      assert.equal(head.kind, 'dpt');
      const depther = new Depther(backbone, head, store);
      assert.deepEqual(depther.outIndex, [0, 1, 2, 3]);
      for (const [B, H, W] of [[1, 56, 84], [2, 50, 66]] as const) {
        const x = Tensor.float32(uniform(B * 3 * H * W, H * W), [B, 3, H, W]);
        const depth = await depther.predict(x);
        assert.deepEqual(depth.shape, [B, 1, H, W]);
        assert.ok(depth.data.every((v) => v >= 0.001 - 1e-7 && v <= 10 + 1e-5), 'depth within [min, max]');
      }
      await depther.dispose();
    } finally {
      await source.close();
      await backbone.dispose();
    }
  });
});

test('the DPT head graph matches the official DPTHead (+ clamp and resize) numerically', { skip: skipOfficial }, async () => {
  await withTempDir(async (dir) => {
    const D = 48;
    const headPath = join(dir, 'head.pth');
    await writeHead(headPath, dptHeadStateDictShapes(hubDptHeadConfig(D, 0.001, 10)), 5);
    const source = await openDecodeHead(headPath);
    const { head, store } = depthHeadFromSource(source, D);
    const graph = await compileGraph(buildDepthHeadGraph(head, store));
    try {
      // An odd grid (5×7) exercises the skip resizes of the fusion blocks, whose sizes then differ.
      for (const [B, h, w, H, W] of [[1, 4, 6, 56, 84], [2, 5, 7, 67, 95]] as const) {
        const feeds: Record<string, Tensor> = { out_size: new Tensor('int64', BigInt64Array.from([BigInt(H), BigInt(W)]), [2]) };
        const items = [];
        for (let i = 0; i < 4; i++) {
          feeds[`patch${i}`] = Tensor.float32(uniform(B * D * h * w, 100 + i), [B, D, h, w]);
          feeds[`cls${i}`] = Tensor.float32(uniform(B * D, 200 + i), [B, D]);
          items.push({ key: `patch${i}`, dtype: 'F32' as const, shape: [B, D, h, w], data: feeds[`patch${i}`]!.data as Float32Array });
          items.push({ key: `cls${i}`, dtype: 'F32' as const, shape: [B, D], data: feeds[`cls${i}`]!.data as Float32Array });
        }
        const inputsPath = join(dir, `inputs_${h}x${w}.pth`);
        await writePth(inputsPath, items);
        const ours = (await graph.run(feeds))['depth'] as Tensor<'float32'>;
        const script = `import sys, json, torch, torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from dinov2.hub.depthers import _make_dinov2_dpt_depth_head
head = _make_dinov2_dpt_depth_head(embed_dim=${D}, min_depth=0.001, max_depth=10).eval()
sd = torch.load(sys.argv[2])
head.load_state_dict({k[len("state_dict.decode_head."):]: v for k, v in sd.items()}, strict=True)
inp = torch.load(sys.argv[3])
with torch.no_grad():
    out = head([(inp[f"patch{i}"], inp[f"cls{i}"]) for i in range(4)], None)
    out = torch.clamp(out, min=0.001, max=10)
    out = F.interpolate(out, size=(${H}, ${W}), mode="bilinear", align_corners=False)
print(json.dumps({"shape": list(out.shape), "values": out.flatten().tolist()}))`;
        const official = JSON.parse(runPython(python!, script, [OFFICIAL_REPO, headPath, inputsPath])) as { shape: number[]; values: number[] };
        assert.deepEqual(ours.shape, official.shape);
        let maxErr = 0;
        let varied = 0;
        for (let i = 0; i < official.values.length; i++) {
          maxErr = Math.max(maxErr, Math.abs(ours.data[i]! - official.values[i]!));
          if (official.values[i]! > 0.0011) varied++;
        }
        console.log(`DPT ${h}×${w} → ${H}×${W}: max |err| ${maxErr.toExponential(2)}, ${varied}/${official.values.length} above min depth`);
        assert.ok(varied > official.values.length / 10, 'the random head should not collapse to min_depth');
        assert.ok(maxErr < 1e-4, `max error ${maxErr}`);
      }
    } finally {
      await graph.dispose();
      await source.close();
    }
  });
});
