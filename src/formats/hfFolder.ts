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
import type { WeightSource } from './types.js';
import { SafetensorsFile } from './safetensors.js';
import { PthFile } from './pth.js';
import { HfSource, mapHfKeys } from './hfSource.js';
import { short } from '../core/text.js';

export { HfSource } from './hfSource.js';

export { writeHfFolder } from './hfWriter.js';

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

/** A Hugging Face model folder on disk (see hfSource.ts for the key mapping). */
export class HfFolder extends HfSource {
  static async open(dir: string): Promise<HfFolder> {
    const configPath = join(dir, 'config.json');
    if (!(await exists(configPath))) throw new Error(`${dir}: no config.json (not a Hugging Face model folder)`);
    const config = await readJson(configPath);
    const { files, where } = await openTensorFiles(dir);
    try {
      return new HfFolder(dir, config, files, mapHfKeys(dir, where));
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
  }
}
