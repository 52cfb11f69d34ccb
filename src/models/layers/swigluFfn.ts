/** SwiGLUFFNFused: w12 → (x1, x2) halves → silu(x1)·x2 → w3. */
import type { Sym } from '../../graph/builder.js';
import * as nn from '../../graph/nn.js';
import * as op from '../../graph/ops.js';
import { linearLayer } from './linear.js';
import type { ParamScope } from './params.js';

export function swigluFfn(x: Sym, p: ParamScope): Sym {
  const h = linearLayer(x, p.scope('w12'));
  const hidden = (h.dim(-1) as number) / 2;
  const [x1, x2] = op.split(h, -1, [hidden, hidden]) as [Sym, Sym];
  return linearLayer(op.mul(nn.silu(x1), x2), p.scope('w3'));
}
