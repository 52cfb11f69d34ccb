/**
 * Dense-prediction head files (the released `*_{nyu,kitti}_{linear,linear4,dpt}_head.pth`,
 * `*_{ade20k,voc2012}_{linear,ms}_head.pth`, or safetensors with the same keys): an mmcv checkpoint whose
 * `state_dict` holds the head under `decode_head.` (and, for full-model saves, the backbone under
 * `backbone.`, which is ignored here). This module finds those tensors, whatever wrapper they come in, and
 * checks them against what a head expects, naming the file and every wrong key.
 */
import { stat } from 'node:fs/promises';
import { openTensorFile } from '../formats/open.js';
import { RenamedSource } from '../formats/renamed.js';
import { checkStateDict } from '../formats/checkStateDict.js';
import type { WeightSource } from '../formats/types.js';
import { storeFromSource, type WeightStore } from '../models/weightStore.js';

export const DECODE_HEAD_PREFIX = 'decode_head.';

/**
 * The `decode_head.*` tensors of a file, keyed as the head module names them (`decode_head.conv_depth.weight`).
 * Wrappers `state_dict.`, `model.` and `module.` are stripped, as mmcv's `load_checkpoint` does.
 */
export async function openDecodeHead(path: string): Promise<WeightSource> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new Error(`${path}: cannot open the head file (${(e as Error).message})`);
  }
  if (info.isDirectory()) throw new Error(`${path}: is a folder; a head is one .pth or .safetensors file`);
  const source: WeightSource = await openTensorFile(path);
  try {
    const names = new Map<string, string>();
    for (const key of source.keys()) {
      const bare = key.replace(/^(state_dict\.|model\.)?(module\.)?/, '');
      if (bare.startsWith(DECODE_HEAD_PREFIX)) names.set(bare, key);
    }
    if (names.size === 0) {
      const some = source.keys().slice(0, 5).join(', ');
      throw new Error(
        `${path}: no '${DECODE_HEAD_PREFIX}*' tensors, so this is not a DINOv2 depth or segmentation head` +
          (some ? ` (it holds ${some}${source.keys().length > 5 ? ', …' : ''})` : ' (it holds no tensors)'),
      );
    }
    return new RenamedSource(source, names);
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** A view of `source` restricted to the keys under `prefix`, renamed without it (e.g. `weights.` of a case file). */
export function withoutPrefix(source: WeightSource, prefix: string): WeightSource {
  const names = new Map(source.keys().filter((k) => k.startsWith(prefix)).map((k) => [k.slice(prefix.length), k] as const));
  return new RenamedSource(source, names);
}

/**
 * Checks a head's tensors against the keys and shapes a head expects (every problem reported, naming the
 * file and key; `what` says which head was expected) and binds them lazily. Keys the head does not use
 * (e.g. a `decode_head.conv_seg` left in a depth checkpoint) are errors too: they mean a mismatched file.
 */
export function headStore(source: WeightSource, expected: ReadonlyMap<string, readonly number[]>, what: string): WeightStore {
  try {
    checkStateDict(source, expected);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n(expected ${what})`);
  }
  return storeFromSource(source, [...expected.keys()].filter((k) => source.entry(k)?.dtype !== 'I64'));
}

/** The shape of `key`, or an error naming the file when it is missing. */
export function shapeOf(source: WeightSource, key: string): readonly number[] {
  const e = source.entry(key);
  if (!e) throw new Error(`${source.path}: missing key '${key}'`);
  return e.shape;
}
