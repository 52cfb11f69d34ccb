/** Runs a conformance suite: every case whose kind we implement, with every weight format it offers. */
import { join } from 'node:path';
import { loadBackbone } from '../../src/models/load.js';
import type { Dinov2 } from '../../src/models/dinov2.js';
import { makeConfig } from '../../src/models/config.js';
import type { CaseResult, ConformanceContext, KindHandler, WeightFormatName } from './kind.js';
import { readManifest, type Manifest } from './manifest.js';
import { KIND_HANDLERS } from './kindRegistry.js';

export interface RunOptions {
  /** Only kinds starting with one of these prefixes. */
  kinds?: readonly string[];
  onResult?: (r: CaseResult) => void;
  handlers?: readonly KindHandler[];
}

function context(manifest: Manifest): ConformanceContext & { dispose(): Promise<void> } {
  const cache = new Map<string, Promise<Dinov2>>();
  return {
    formats(name) {
      const m = manifest.models[name];
      if (!m) throw new Error(`manifest has no model '${name}'`);
      return (['pth', 'safetensors', 'hf'] as const).filter((f) => m[f]);
    },
    backbone(name, format: WeightFormatName) {
      const key = `${name}|${format}`;
      let model = cache.get(key);
      if (!model) {
        const m = manifest.models[name]!;
        // The manifest's config is authoritative (it is what the reference was built with).
        model = loadBackbone(join(manifest.dir, m[format]!), { config: makeConfig(m.config as never) });
        cache.set(key, model);
      }
      return model;
    },
    async dispose() {
      for (const m of cache.values()) await (await m.catch(() => null))?.dispose();
    },
  };
}

export async function runConformance(dir: string, options: RunOptions = {}): Promise<CaseResult[]> {
  const manifest = await readManifest(dir);
  const handlers = new Map((options.handlers ?? KIND_HANDLERS).map((h) => [h.kind, h]));
  const selected = manifest.cases.filter((c) => !options.kinds?.length || options.kinds.some((k) => c.kind.startsWith(k)));
  const ctx = context(manifest);
  const results: CaseResult[] = [];
  const emit = (r: CaseResult): void => {
    results.push(r);
    options.onResult?.(r);
  };
  try {
    for (const c of selected) {
      const handler = handlers.get(c.kind);
      if (!handler) {
        emit({ id: c.id, kind: c.kind, format: '-', status: 'skip', maxAbsError: NaN, detail: `kind '${c.kind}' is not implemented yet` });
        continue;
      }
      try {
        for (const r of await handler.run(manifest, c, ctx)) emit(r);
      } catch (e) {
        emit({ id: c.id, kind: c.kind, format: '-', status: 'fail', maxAbsError: Infinity, detail: (e as Error).message });
      }
    }
  } finally {
    await ctx.dispose();
  }
  return results;
}
