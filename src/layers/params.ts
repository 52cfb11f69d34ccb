/**
 * How layers reach their weights: by official state-dict key. The model decides where each key's bytes
 * come from (a checkpoint, random init, ...); layers only name what they need.
 */
import type { Sym } from '../graph/builder.js';

export interface ParamScope {
  /** The weight stored under `prefix + name`; throws naming the key if the model has none. */
  get(name: string): Sym;
  /** Like get, but null when the key is absent (optional biases, LayerScale). */
  maybe(name: string): Sym | null;
  /** A nested scope: scope('blocks.0').get('norm1.weight') reads 'blocks.0.norm1.weight'. */
  scope(prefix: string): ParamScope;
}

export function makeScope(lookup: (key: string) => Sym | null, prefix = ''): ParamScope {
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
      return makeScope(lookup, `${prefix}${sub}.`);
    },
  };
}
