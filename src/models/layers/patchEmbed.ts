/** PatchEmbed: Conv2d(in_chans → D, kernel = stride = patch) then flatten to tokens [B, h·w, D]. */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from './params.js';

export function patchEmbed(x: Sym, p: ParamScope, patchSize: number): Sym {
  const y = op.conv2d(x, p.get('proj.weight'), p.maybe('proj.bias'), patchSize, 0);
  // [B, D, h, w] → [B, D, h·w] → [B, h·w, D] (row-major over the patch grid, as flatten(2) does).
  return op.transpose(op.reshape(y, [0, 0, -1]), [0, 2, 1]);
}
