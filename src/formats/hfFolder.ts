/**
 * A Hugging Face transformers folder of a `Dinov2Model` / `Dinov2WithRegistersModel` (`config.json` plus
 * `model.safetensors`, a sharded `model.safetensors.index.json`, or a legacy `pytorch_model.bin`) presented
 * under the official DINOv2 key names.
 *
 * Classification checkpoints prefix the backbone with `dinov2.` / `dinov2_with_registers.`; the prefix is
 * stripped and their `classifier.*` tensors are listed under their own names. query/key/value are listed as
 * one fused `blocks.i.attn.qkv.*` tensor (synthesized, so without a file extent). Keys with no official
 * name are listed unchanged, for `checkStateDict` to report.
 */
import { stat } from 'node:fs/promises';
import { readRegularFile } from '../core/fileio.js';
import { join } from 'node:path';
import type { TensorEntry, WeightSource } from './types.js';
import { SafetensorsFile } from './safetensors.js';
import { PthFile } from './pth.js';
import { toFloat32 } from '../core/dtype.js';
import { hfToOfficial, QKV_PARTS, type QkvPart } from './hfKeys.js';
import { short } from '../core/text.js';

export { writeHfFolder } from './hfWriter.js';

interface Part {
  source: WeightSource;
  key: string;
}

interface Mapped {
  entry: TensorEntry;
  /** One part, or query/key/value to concatenate along the first axis. */
  parts: Part[];
}

const PREFIXES = ['dinov2_with_registers.', 'dinov2.'];

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** config.json is ~1 KiB, a shard index ~100 KiB; anything this large is not one. */
const MAX_JSON_BYTES = 16 << 20;

/**
 * A JSON object from a regular file (a FIFO or device is refused without blocking). Errors name the file and
 * never quote it: the parser's message includes the text, which may be anything the path points at.
 */
async function readJson(path: string): Promise<Record<string, unknown>> {
  const bytes = await readRegularFile(path, MAX_JSON_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new Error(`${path}: not valid JSON${at ? ` (syntax error at byte ${at})` : ''}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${path}: not a JSON object (${value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`})`);
  }
  return value as Record<string, unknown>;
}

/** The tensor files of the folder, each HF key with the file that holds it. */
async function openTensorFiles(dir: string): Promise<{ files: WeightSource[]; where: Map<string, WeightSource> }> {
  const files: WeightSource[] = [];
  const where = new Map<string, WeightSource>();
  try {
    const index = join(dir, 'model.safetensors.index.json');
    if (await exists(index)) {
      const weightMap = (await readJson(index)).weight_map as Record<string, string> | undefined;
      if (!weightMap || typeof weightMap !== 'object' || Array.isArray(weightMap)) throw new Error(`${index}: no 'weight_map' object`);
      const shards = new Map<string, WeightSource>();
      for (const [key, file] of Object.entries(weightMap)) {
        // A shard is a file beside the index: no folders, no '..'.
        if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || file.includes('/') || file.includes('\\') || file.includes('\0')) {
          throw new Error(`${index}: bad shard name for '${short(key)}' (a file name in the same folder expected)`);
        }
        let shard = shards.get(file);
        if (!shard) {
          shard = await SafetensorsFile.open(join(dir, file));
          shards.set(file, shard);
          files.push(shard);
        }
        if (!shard.entry(key)) throw new Error(`${index}: maps '${short(key)}' to ${short(file)}, which has no such tensor`);
        where.set(key, shard);
      }
    } else if (await exists(join(dir, 'model.safetensors'))) {
      files.push(await SafetensorsFile.open(join(dir, 'model.safetensors')));
    } else if (await exists(join(dir, 'pytorch_model.bin'))) {
      files.push(await PthFile.open(join(dir, 'pytorch_model.bin')));
    } else {
      throw new Error(`${dir}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin`);
    }
    if (where.size === 0) for (const f of files) for (const k of f.keys()) where.set(k, f);
    return { files, where };
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
}

export class HfFolder implements WeightSource {
  readonly format = 'hf' as const;

  private constructor(
    readonly path: string,
    /** The folder's config.json. */
    readonly metadata: Record<string, unknown>,
    private readonly files: WeightSource[],
    private readonly tensors: Map<string, Mapped>,
  ) {}

  get config(): Record<string, unknown> {
    return this.metadata;
  }

  static async open(dir: string): Promise<HfFolder> {
    const configPath = join(dir, 'config.json');
    if (!(await exists(configPath))) throw new Error(`${dir}: no config.json (not a Hugging Face model folder)`);
    const config = await readJson(configPath);
    const { files, where } = await openTensorFiles(dir);
    try {
      return new HfFolder(dir, config, files, mapKeys(dir, where));
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  entry(key: string): TensorEntry | undefined {
    return this.tensors.get(key)?.entry;
  }

  private need(key: string): Mapped {
    const m = this.tensors.get(key);
    if (!m) throw new Error(`${this.path}: no tensor named '${key}'`);
    return m;
  }

  async readRaw(key: string): Promise<Uint8Array> {
    const { parts } = this.need(key);
    const raws = await Promise.all(parts.map((p) => p.source.readRaw(p.key)));
    if (raws.length === 1) return raws[0]!;
    const out = new Uint8Array(raws.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of raws) {
      out.set(r, at);
      at += r.length;
    }
    return out;
  }

  async readFloat32(key: string): Promise<Float32Array> {
    return toFloat32(await this.readRaw(key), this.need(key).entry.dtype);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

function mapKeys(dir: string, where: Map<string, WeightSource>): Map<string, Mapped> {
  const keys = [...where.keys()];
  const prefix = PREFIXES.find((p) => keys.some((k) => k.startsWith(p)));
  const out = new Map<string, Mapped>();
  const qkv = new Map<string, Map<QkvPart, Part>>();
  const add = (key: string, mapped: Mapped): void => {
    if (out.has(key)) throw new Error(`${dir}: two tensors map to the official key '${key}'`);
    out.set(key, mapped);
  };
  for (const hfKey of keys) {
    const source = where.get(hfKey)!;
    const bare = prefix && hfKey.startsWith(prefix) ? hfKey.slice(prefix.length) : hfKey;
    const target = hfToOfficial(bare);
    const part: Part = { source, key: hfKey };
    if (target?.part) {
      let group = qkv.get(target.key);
      if (!group) {
        group = new Map();
        qkv.set(target.key, group);
        // Reserve the fused tensor's place in the listing where its first part appears.
        out.set(target.key, { entry: { key: target.key, dtype: 'F32', shape: [] }, parts: [] });
      }
      group.set(target.part, part);
    } else {
      const e = source.entry(hfKey)!;
      add(target?.key ?? bare, { entry: { ...e, key: target?.key ?? bare }, parts: [part] });
    }
  }
  for (const [key, group] of qkv) {
    const parts = QKV_PARTS.map((p) => {
      const part = group.get(p);
      if (!part) {
        const present = [...group.values()][0]!.key;
        throw new Error(`${dir}: '${present}' has no '${p}' counterpart, so '${key}' cannot be assembled`);
      }
      return part;
    });
    const entries = parts.map((p) => p.source.entry(p.key)!);
    const first = entries[0]!;
    for (const e of entries) {
      if (e.dtype !== first.dtype || e.shape.join() !== first.shape.join() || e.shape.length === 0) {
        throw new Error(`${dir}: query/key/value of '${key}' differ in dtype or shape (${entries.map((x) => `${x.key}: ${x.dtype}[${x.shape.join(', ')}]`).join('; ')})`);
      }
    }
    out.set(key, { entry: { key, dtype: first.dtype, shape: [3 * first.shape[0]!, ...first.shape.slice(1)] }, parts });
  }
  return out;
}
