/** Mlp: fc1 → GELU → fc2. */
import type { Sym } from '../graph/builder.js';
import * as nn from '../graph/nn.js';
import type { ParamScope } from './params.js';

export function mlp(x: Sym, p: ParamScope): Sym {
  const h = nn.gelu(nn.linear(x, p.get('fc1.weight'), p.maybe('fc1.bias')));
  return nn.linear(h, p.get('fc2.weight'), p.maybe('fc2.bias'));
}
