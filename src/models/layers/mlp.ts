/** Mlp: fc1 → GELU → fc2. */
import type { Sym } from '../../graph/builder.js';
import * as nn from '../../graph/nn.js';
import { linearLayer } from './linear.js';
import type { ParamScope } from './params.js';

export function mlp(x: Sym, p: ParamScope): Sym {
  return linearLayer(nn.gelu(linearLayer(x, p.scope('fc1'))), p.scope('fc2'));
}
