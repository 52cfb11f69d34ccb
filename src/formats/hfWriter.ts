/** The reverse of `HfFolder`: official keys → a transformers `Dinov2Model` / `Dinov2WithRegistersModel` folder. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WeightSource } from './types.js';
import { officialToHf } from './hfKeys.js';
import { writeSafetensors } from './safetensorsWriter.js';
import type { TensorItem } from './tensorItem.js';

/**
 * Writes `source` (official keys) as a transformers folder: `config.json` (`hfConfig`, as
 * `backboneConfigToHf` in models/hfConfig.ts makes it) and `model.safetensors` under HF names, the fused qkv
 * split into query/key/value. Only backbone keys can be written.
 */
export async function writeHfFolder(dir: string, source: WeightSource, hfConfig: Readonly<Record<string, unknown>>): Promise<void> {
  const items: TensorItem[] = [];
  // q, k and v are written one after another; keep the fused tensor between them rather than read it thrice.
  let cached: { key: string; raw: Promise<Uint8Array> } | undefined;
  const fused = (key: string): Promise<Uint8Array> => {
    if (cached?.key !== key) cached = { key, raw: source.readRaw(key) };
    return cached.raw;
  };
  for (const key of source.keys()) {
    const names = officialToHf(key);
    if (!names) throw new Error(`${source.path}: key '${key}' has no Hugging Face Dinov2Model name, so it cannot be written to ${dir}`);
    const e = source.entry(key)!;
    if (names.length === 1) {
      items.push({ key: names[0]!, dtype: e.dtype, shape: e.shape, data: () => source.readRaw(key) });
      continue;
    }
    const rows = e.shape[0] ?? 0;
    if (rows % 3 !== 0) throw new Error(`${source.path}: key '${key}' has shape [${e.shape.join(', ')}]; its first axis is not 3 × embed_dim`);
    const shape = [rows / 3, ...e.shape.slice(1)];
    names.forEach((name, i) => {
      items.push({
        key: name,
        dtype: e.dtype,
        shape,
        data: async () => {
          const raw = await fused(key);
          const third = raw.length / 3;
          return raw.subarray(i * third, (i + 1) * third);
        },
      });
    });
  }
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), items, { format: 'pt' });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(hfConfig, null, 2)}\n`);
}
