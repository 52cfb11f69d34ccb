/**
 * How layers reach their weights: by official state-dict key. The model decides where each key's bytes
 * come from (a checkpoint, random init, ...); layers only name what they need.
 */
import type { Sym } from '../../graph/builder.js';

export interface ParamScope {
  /** The weight stored under `prefix + name`; throws naming the key if the model has none. */
  get(name: string): Sym;
  /** Like get, but null when the key is absent (optional biases, LayerScale). */
  maybe(name: string): Sym | null;
  /** A nested scope: scope('blocks.0').get('norm1.weight') reads 'blocks.0.norm1.weight'. */
  scope(prefix: string): ParamScope;
  /**
   * The int8 form of a Linear weight ([in, out] int8 + per-output scale), when the model runs quantized;
   * null otherwise.
   */
  int8?(name: string): Int8Weight | null;
}

export interface Int8Weight {
  /** [in, out], symmetric per output channel. */
  weight: Sym;
  /** [out] float32 scales. */
  scale: Sym;
  /**
   * Input channels multiplied in float32 (LLM.int8-style decomposition; their rows of `weight` are 0):
   * `index` [k] int64, `keep` [in] float32 (0 at those channels, 1 elsewhere), `weight` [out, k] float32
   * (those columns of the float weight).
   */
  outliers?: { index: Sym; keep: Sym; weight: Sym };
  /** Quantize this layer's input per row (token) instead of per tensor (see linear.ts int8PerRow). */
  perRow?: boolean;
}

export function makeScope(lookup: (key: string) => Sym | null, prefix = '', int8?: (key: string) => Int8Weight | null): ParamScope {
  return {
    get(name) {
      const s = lookup(prefix + name);
      if (!s) throw new Error(`missing weight '${prefix + name}'`);
      return s;
    },
    maybe(name) {
      return lookup(prefix + name);
    },
    scope(sub) {
      return makeScope(lookup, `${prefix}${sub}.`, int8);
    },
    ...(int8 ? { int8: (name: string) => int8(prefix + name) } : {}),
  };
}
