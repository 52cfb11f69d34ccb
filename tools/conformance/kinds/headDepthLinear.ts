/**
 * Kind `head.depth_linear`: the hub's linear depth head (BNHead) with `weights.decode_head.*` on the un-normed
 * layers `out_index` of `model`, input centre-padded to a multiple of the patch size, output clamped and
 * resized to the input size → `expected.depth` [B, 1, H, W].
 */
import { join } from 'node:path';
import { compareClose } from '../compare.js';
import type { CaseResult, KindHandler } from '../kind.js';
import { headStore, withoutPrefix } from '../../../src/heads/headFile.js';
import { bnHeadStateDictShapes, type BNHeadConfig, type BinsStrategy, type NormStrategy } from '../../../src/heads/depth/bnHead.js';
import { Depther } from '../../../src/heads/depth/depther.js';
import { SafetensorsFile } from '../../../src/formats/safetensors.js';
import { Tensor } from '../../../src/core/tensor.js';
import { shapeAware } from './backboneForward.js';
import { caseResult } from './expectedTensors.js';

export const headDepthLinear: KindHandler = {
  kind: 'head.depth_linear',
  async run(manifest, c, ctx) {
    const model = c.model!;
    const file = await SafetensorsFile.open(join(manifest.dir, c.file));
    try {
      const x = Tensor.float32(await file.readFloat32('input.x'), file.entry('input.x')!.shape);
      const expected = Tensor.float32(await file.readFloat32('expected.depth'), file.entry('expected.depth')!.shape);
      const outIndex = c['out_index'] as number[];
      const results: CaseResult[] = [];
      for (const format of ctx.formats(model)) {
        const backbone = await ctx.backbone(model, format);
        const config: BNHeadConfig = {
          embedDim: backbone.embedDim,
          layers: (c['layers'] as number | undefined) ?? outIndex.length,
          classify: true,
          nBins: (c['n_bins'] as number | undefined) ?? 256,
          binsStrategy: ((c['bins_strategy'] as string | undefined) ?? 'UD') as BinsStrategy,
          normStrategy: ((c['norm_strategy'] as string | undefined) ?? 'linear') as NormStrategy,
          upsample: (c['upsample'] as number | undefined) ?? 4,
          minDepth: (c['min_depth'] as number | undefined) ?? 0.001,
          maxDepth: (c['max_depth'] as number | undefined) ?? 80,
        };
        const store = headStore(withoutPrefix(file, 'weights.'), bnHeadStateDictShapes(config), `a ${config.layers}-layer linear depth head`);
        const depther = new Depther(backbone, { kind: 'linear', config }, store, { outIndex });
        try {
          const depth = await depther.predict(x);
          const v = shapeAware('depth', depth.shape, expected.shape) ?? compareClose('depth', depth.data, expected.data, c.atol ?? 1e-3, c.rtol ?? 1e-4);
          results.push(caseResult(c, [v], { format }));
        } finally {
          await depther.dispose();
        }
      }
      return results;
    } finally {
      await file.close();
    }
  },
};
