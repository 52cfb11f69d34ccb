/**
 * Frozen features on disk, so that a grid of classifiers (or a second run) does not run the backbone again.
 *
 * An entry is one image's features as raw little-endian float32, in a file named by a hash of everything the
 * values depend on: the model identity (checkpoint path, size and mtime, and the architecture), the transform
 * (its name and size), the feature layout, and the image (absolute path, size, mtime). Any change to one of
 * them misses the cache instead of returning stale features; nothing is ever invalidated in place, so old
 * entries are merely unused (delete the folder to reclaim the space).
 *
 * Checkpoint files are identified by size + mtime, not by a hash of their content: hashing a 4 GB ViT-g on
 * every run would cost more than it saves.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Dinov2 } from '../models/dinov2.js';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * What identifies a backbone's weights: its checkpoint (resolved path, size, mtime; for a Hugging Face folder,
 * its model.safetensors) when the model's name is a file, else the name; plus the architecture.
 */
export async function modelIdentity(model: Dinov2): Promise<string> {
  const arch = JSON.stringify(model.config);
  const name = model.name;
  for (const candidate of [name, join(name, 'model.safetensors')]) {
    try {
      const s = await stat(candidate);
      if (s.isFile()) return `${resolve(candidate)}|${s.size}|${s.mtimeMs}|${arch}`;
    } catch {
      // not a file: try the next form, then fall back to the name
    }
  }
  return `${name}|${arch}`;
}

export interface FeatureCacheKey {
  /** `modelIdentity(model)`. */
  model: string;
  /** The transform, e.g. `eval:224`. */
  transform: string;
  /** The feature layout, e.g. `cls4+mean:48`. */
  layout: string;
}

export class FeatureCache {
  hits = 0;
  misses = 0;
  private readonly folder: string;

  private constructor(
    readonly dir: string,
    private readonly namespace: string,
  ) {
    this.folder = join(dir, namespace.slice(0, 16));
  }

  static async open(dir: string, key: FeatureCacheKey): Promise<FeatureCache> {
    const namespace = sha256(`${key.model}\n${key.transform}\n${key.layout}`);
    const cache = new FeatureCache(resolve(dir), namespace);
    await mkdir(cache.folder, { recursive: true });
    return cache;
  }

  /**
   * The entry file of `image` (a hash of its resolved path, size and mtime), or null when it cannot be
   * stat'ed. `read` and `write` take it, so that a miss followed by a store computes it once.
   */
  async entryFor(image: string): Promise<string | null> {
    let s;
    try {
      s = await stat(image);
    } catch {
      return null; // unreadable images are the extractor's to report
    }
    const h = sha256(`${this.namespace}\n${resolve(image)}\n${s.size}\n${s.mtimeMs}`);
    return join(this.folder, h.slice(0, 2), `${h.slice(2)}.f32`);
  }

  /** The cached features of `image` (exactly `length` floats), or null. */
  async get(image: string, length: number): Promise<Float32Array | null> {
    return this.read(await this.entryFor(image), length);
  }

  async put(image: string, features: Float32Array): Promise<void> {
    return this.write(await this.entryFor(image), features);
  }

  /** The features stored at an entry of `entryFor` (exactly `length` floats), or null (a miss). */
  async read(file: string | null, length: number): Promise<Float32Array | null> {
    if (file) {
      try {
        const bytes = await readFile(file);
        if (bytes.length === length * 4) {
          this.hits++;
          const out = new Float32Array(length);
          new Uint8Array(out.buffer).set(bytes);
          return out;
        }
      } catch {
        // a miss
      }
    }
    this.misses++;
    return null;
  }

  /** Stores features at an entry of `entryFor` (nothing for a null entry). */
  async write(file: string | null, features: Float32Array): Promise<void> {
    if (!file) return;
    await mkdir(join(file, '..'), { recursive: true });
    // Write then rename: a concurrent reader sees a whole entry or none.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
    await rename(tmp, file);
  }
}
