/** SwiGLUFFNFused: w12 → (x1, x2) halves → silu(x1)·x2 → w3. */
import type { Sym } from '../graph/builder.js';
import * as nn from '../graph/nn.js';
import * as op from '../graph/ops.js';
import type { ParamScope } from './params.js';

export function swigluFfn(x: Sym, p: ParamScope): Sym {
  const w12 = p.get('w12.weight');
  const hidden = (w12.dim(0) as number) / 2;
  const [x1, x2] = op.split(nn.linear(x, w12, p.maybe('w12.bias')), -1, [hidden, hidden]) as [Sym, Sym];
  return nn.linear(op.mul(nn.silu(x1), x2), p.get('w3.weight'), p.maybe('w3.bias'));
}
