/** Composite building blocks made of the base ops (what torch.nn.functional offers, in graph form). */
import type { Sym } from './builder.js';
import type { Dim } from './ir.js';
import * as op from './ops.js';

/** y = x·Wᵀ + b over the last axis of an input of any rank (W stored [out, in] as in PyTorch). */
export function linear(x: Sym, w: Sym, b: Sym | null): Sym {
  if (x.rank === 2) return op.gemmTransB(x, w, b);
  const inFeatures = w.dim(1) as number;
  const flat = op.reshape(x, [-1, inFeatures]);
  const y = op.gemmTransB(flat, w, b);
  const lead = x.shape.slice(0, -1);
  // Reshape back with 0 = "copy that input dim" — but the input to Reshape is the 2-D `y`, so the leading
  // dims are taken from x at run time.
  const target = op.concat([op.slice(op.shapeOf(x), 0, 0, x.rank - 1), x.g.ints([w.dim(0) as number])], 0);
  return op.reshapeDynamic(y, target, [...lead, w.dim(0)]);
}

/** Exact (erf) GELU, as nn.GELU(): 0.5·x·(1 + erf(x/√2)). onnxruntime fuses this pattern into one kernel. */
export function gelu(x: Sym): Sym {
  const g = x.g;
  const c = (v: number): Sym => g.scalar(v, floatType(x));
  const inner = op.erf(op.div(x, c(Math.SQRT2)));
  return op.mul(op.mul(x, op.add(inner, c(1))), c(0.5));
}

/** The float type of a value, for constants that must match it (graphs run in float32 or float16). */
export function floatType(x: Sym): 'float32' | 'float16' {
  return x.dtype === 'float16' ? 'float16' : 'float32';
}

export function silu(x: Sym): Sym {
  return op.mul(x, op.sigmoid(x));
}

/** Broadcasts a [1, ...rest] parameter to [B, ...rest] with B taken from `like` at run time. */
export function expandBatch(param: Sym, like: Sym): Sym {
  const g = param.g;
  const batch = op.slice(op.shapeOf(like), 0, 0, 1);
  const rest = param.shape.slice(1) as number[];
  const shape = op.concat([batch, g.ints(rest)], 0);
  return op.expand(param, shape, [like.dim(0) as Dim, ...rest]);
}
