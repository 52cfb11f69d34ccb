/** LayerScale: per-channel scaling by `gamma`; absent (identity) when the model has no LayerScale. */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from './params.js';

export function layerScale(x: Sym, p: ParamScope): Sym {
  const gamma = p.maybe('gamma');
  return gamma ? op.mul(x, gamma) : x;
}
