/**
 * A model's weights by official key: shape plus a lazy source of float32 bytes. Built from a checkpoint
 * (any format) or from a seeded random fill; either way nothing is read until a graph is serialised, and
 * then one tensor at a time.
 */
import type { GraphBuilder } from '../graph/builder.js';
import type { InitializerSource } from '../graph/ir.js';
import { makeScope, type ParamScope } from '../layers/params.js';
import type { WeightSource } from '../weights/types.js';

export interface StoredWeight {
  shape: readonly number[];
  source: InitializerSource;
}

export type WeightStore = Map<string, StoredWeight>;

function asBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Weights read lazily from a checkpoint; float32 tensors stored contiguously are referenced in place. */
export function storeFromSource(source: WeightSource, keys: Iterable<string>): WeightStore {
  const store: WeightStore = new Map();
  for (const key of keys) {
    const entry = source.entry(key);
    if (!entry) throw new Error(`${source.path}: missing weight '${key}'`);
    const extent = entry.dtype === 'F32' ? entry.extent : undefined;
    store.set(key, {
      shape: entry.shape,
      source: { bytes: async () => asBytes(await source.readFloat32(key)), ...(extent ? { extent } : {}) },
    });
  }
  return store;
}

/** A fixed float32 tensor (a weight computed in memory: tests, conversions, heads). */
export function storedFloat32(shape: readonly number[], values: Float32Array): StoredWeight {
  return { shape, source: { bytes: async () => asBytes(values) } };
}

/** Layers' view of a store inside one graph: each key becomes an initializer (named by its key) on first use. */
export function weightScope(g: GraphBuilder, store: WeightStore): ParamScope {
  return makeScope((key) => {
    if (g.hasValue(key)) return g.value(key);
    const w = store.get(key);
    return w ? g.initializer(key, 'float32', w.shape, w.source) : null;
  });
}
