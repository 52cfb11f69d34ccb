/**
 * `--head depth=…` / `segment=…` / `classify=…`: a head file, or for depth and segmentation a released head's
 * short name (`nyu-linear4`, `ade20k-ms`, … — hub/loadHead.ts) for a hub backbone, resolved to a file in the
 * torch.hub cache (downloaded unless offline) when the server starts, so a wrong name or a cache miss
 * stops the start with a message naming the head, instead of failing requests later.
 */
import type { HeadFiles, ModelSpec } from './options.js';
import { DEPTH_HEAD_PRESETS, SEGMENTATION_HEAD_PRESETS, resolveHeadFile } from '../hub/loadHead.js';
import type { HeadKind } from '../hub/registry.js';

const PRESETS: Record<'depth' | 'segment', Readonly<Record<string, HeadKind>>> = { depth: DEPTH_HEAD_PRESETS, segment: SEGMENTATION_HEAD_PRESETS };

/** The heads with presets replaced by their cached files; other values (files) are kept as given. */
export async function resolveServeHeads(heads: HeadFiles, models: readonly ModelSpec[], offline: boolean): Promise<HeadFiles> {
  const out: HeadFiles = { ...heads };
  const spec = models.find((m) => m.id === (heads.model ?? models[0]!.id))!;
  for (const kind of ['depth', 'segment'] as const) {
    const head = heads[kind];
    if (head === undefined) continue;
    try {
      out[kind] = (await resolveHeadFile(head, spec.source, PRESETS[kind], { offline })).path;
    } catch (e) {
      throw new Error(`serve: --head ${kind}=${head} (for model '${spec.id}'): ${(e as Error).message}`);
    }
  }
  return out;
}
