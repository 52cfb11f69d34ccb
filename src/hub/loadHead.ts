/**
 * Dense-prediction heads by the names people use: a released head's short name (`nyu-linear4`, `ade20k-ms`, …)
 * for a hub backbone — found in the cache or downloaded — or a head file; opened, checked and paired with a
 * loaded backbone as a `Depther` or a `Segmenter`.
 */
import { stat } from 'node:fs/promises';
import { ArgumentError } from '../core/errors.js';
import { Depther, depthHeadFromSource, type DepthRange } from '../heads/depth/depther.js';
import { openDecodeHead } from '../heads/headFile.js';
import { segHeadFromSource, type LinearSegHeadConfig } from '../heads/segmentation/linearHead.js';
import { ADE20K, datasetFor, VOC2012, type SegmentationDataset } from '../heads/segmentation/palettes.js';
import { Segmenter } from '../heads/segmentation/segmenter.js';
import type { RuntimeOptions } from '../graph/runtime.js';
import { HUB_MODELS, isHubModelName } from '../models/config.js';
import type { Dinov2 } from '../models/dinov2.js';
import { headArtifact, type HeadKind } from './registry.js';
import { resolveArtifact } from './resolve.js';

/** Short names of the released heads → registry kinds. */
export const DEPTH_HEAD_PRESETS: Readonly<Record<string, HeadKind>> = {
  'nyu-linear4': 'nyu_linear4',
  'nyu-linear': 'nyu_linear',
  'nyu-dpt': 'nyu_dpt',
  'kitti-linear4': 'kitti_linear4',
  'kitti-linear': 'kitti_linear',
  'kitti-dpt': 'kitti_dpt',
};

export const SEGMENTATION_HEAD_PRESETS: Readonly<Record<string, HeadKind>> = {
  'ade20k-linear': 'ade20k_linear',
  'ade20k-ms': 'ade20k_ms',
  'voc2012-linear': 'voc2012_linear',
  'voc2012-ms': 'voc2012_ms',
};


/**
 * The depth range of a head: linear heads always use the hub's hard-coded 0.001–80 (whatever the dataset);
 * DPT heads the range of their training set (`_get_depth_range`): NYU 10 m, KITTI 80 m. A head file's
 * dataset is guessed from its name (`*_kitti_*`), NYU otherwise.
 */
export function presetRange(head: string, path: string): DepthRange {
  const kitti = /kitti/i.test(head) || /kitti/i.test(path);
  return { minDepth: 0.001, maxDepth: kitti ? 80 : 10 };
}

/**
 * A head argument → a local file: an existing path as is, or a released head's short name (a key of
 * `presets`, e.g. `nyu-linear4` → registry kind `nyu_linear4`) for the hub backbone `model`, found in the
 * cache or downloaded (see hub/resolve.ts; offline mode and mirrors apply).
 */
export async function resolveHeadFile(
  head: string,
  model: string | undefined,
  presets: Readonly<Record<string, HeadKind>>,
  opts: { offline?: boolean } = {},
): Promise<{ path: string; preset?: string }> {
  if (await stat(head).then(() => true, () => false)) return { path: head };
  const kind = presets[head];
  if (!kind) throw new ArgumentError(['head'], `head '${head}' is neither an existing file nor a released head (${Object.keys(presets).join(', ')})`);
  if (model === undefined || !isHubModelName(model)) {
    throw new ArgumentError(['head', 'model'], `head '${head}' names a released head, which exists for the hub backbones only: the model must be a hub name (${HUB_MODELS.join(', ')}), or the head a file`);
  }
  const path = await resolveArtifact(headArtifact(model, kind), opts.offline !== undefined ? { offline: opts.offline } : {});
  return { path, preset: head };
}

export interface LoadHeadOptions extends RuntimeOptions {
  /** The backbone's hub name, when it has one (released heads exist for hub backbones only). */
  model?: string;
  /** Never download. */
  offline?: boolean;
}

/** A depth head (preset name or file) on `backbone`; `range` overrides the head's depth range. */
export async function loadDepther(head: string, backbone: Dinov2, opts: LoadHeadOptions & { range?: DepthRange } = {}): Promise<{ depther: Depther; path: string }> {
  const { model, offline, range: override, ...runtime } = opts;
  const { path } = await resolveHeadFile(head, model, DEPTH_HEAD_PRESETS, offline !== undefined ? { offline } : {});
  const source = await openDecodeHead(path);
  try {
    const dpt = source.keys().some((k) => k.startsWith('decode_head.reassemble_blocks.'));
    const range: DepthRange = { ...(dpt ? presetRange(head, path) : {}), ...override };
    const { head: config, store } = depthHeadFromSource(source, backbone.embedDim, range);
    return { depther: new Depther(backbone, config, store, { ...runtime, onDispose: () => source.close() }), path };
  } catch (e) {
    await source.close();
    throw e;
  }
}

/** The dataset of a head: from the preset or released file name, a trained head's metadata, or its class count. */
function headDataset(head: string, numClasses: number, metadata: Record<string, unknown>): SegmentationDataset {
  const name = head.split(/[\\/]/).pop() ?? head;
  if (/^ade20k-|_ade20k_/.test(name)) return ADE20K;
  if (/^voc2012-|_voc2012_/.test(name)) return VOC2012;
  let names: string[] | undefined;
  if (typeof metadata['classes'] === 'string') {
    try {
      names = JSON.parse(metadata['classes']) as string[];
    } catch {
      names = undefined;
    }
  }
  return datasetFor(numClasses, names);
}

export interface LoadedSegmenter {
  segmenter: Segmenter;
  config: LinearSegHeadConfig;
  dataset: SegmentationDataset;
  /** The shorter side the head was trained at (recorded by segment-train), if known. */
  trainedSize?: number;
  path: string;
}

/** A segmentation head (preset name or file) on `backbone`, with its dataset's class names and palette. */
export async function loadSegmenter(head: string, backbone: Dinov2, opts: LoadHeadOptions = {}): Promise<LoadedSegmenter> {
  const { model, offline, ...runtime } = opts;
  const { path } = await resolveHeadFile(head, model, SEGMENTATION_HEAD_PRESETS, offline !== undefined ? { offline } : {});
  const source = await openDecodeHead(path);
  try {
    const { config, store } = segHeadFromSource(source, backbone.embedDim);
    const dataset = headDataset(head, config.numClasses, source.metadata);
    const trained = Number(source.metadata['size']);
    return {
      segmenter: new Segmenter(backbone, config, store, { ...runtime, onDispose: () => source.close() }),
      config,
      dataset,
      ...(Number.isInteger(trained) && trained > 0 ? { trainedSize: trained } : {}),
      path,
    };
  } catch (e) {
    await source.close();
    throw e;
  }
}
