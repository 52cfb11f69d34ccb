/**
 * `node --import tsx bench/e2e/makePhotos.ts [--out .cache/e2e-photos] [--count 240]`
 *
 * A folder of JPEG photographs of mixed sizes for the end-to-end bench, made from real photographs on the
 * machine: the nature/abstract photos of Debian's `mate-backgrounds` package (/usr/share/backgrounds/mate,
 * `apt-get install mate-backgrounds`) and the four conformance images (scikit-image's astronaut, chelsea,
 * coffee, rocket). Each output is a seeded random crop (20–100 % of the area, aspect 0.6–1.8, portrait or
 * landscape) of one source, resized to a long side between 320 and 2048 px and saved at JPEG quality 70–95
 * with sharp — the spread of sizes a photo folder has. Deterministic for a given source set.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const here = import.meta.dirname;
const { values } = parseArgs({ options: { out: { type: 'string', default: resolve(here, '..', '..', '.cache', 'e2e-photos') }, count: { type: 'string', default: '240' } } });

export function photoSources(): string[] {
  const out: string[] = [];
  for (const dir of ['/usr/share/backgrounds/mate/nature', '/usr/share/backgrounds/mate/abstract', '/usr/share/backgrounds/mate/desktop']) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (/\.jpe?g$/i.test(f) && !/_\d+x\d+/.test(f)) out.push(join(dir, f));
  }
  const conf = resolve(here, '..', '..', '..', 'shared', 'conformance', 'images');
  if (existsSync(conf)) for (const f of readdirSync(conf).sort()) out.push(join(conf, f));
  return out;
}

async function main(): Promise<void> {
  const sources = photoSources();
  if (sources.length < 4) throw new Error('makePhotos: no source photographs (apt-get install mate-backgrounds)');
  const count = Number(values.count);
  mkdirSync(values.out!, { recursive: true });
  let s = 12345;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const meta = await Promise.all(sources.map(async (p) => ({ p, m: await sharp(p).metadata() })));
  for (let i = 0; i < count; i++) {
    const { p, m } = meta[i % meta.length]!;
    const W = m.width!;
    const H = m.height!;
    const area = (0.2 + 0.8 * rnd()) * W * H;
    let aspect = 0.6 + 1.2 * rnd();
    if (rnd() < 0.3) aspect = 1 / aspect;
    const w = Math.max(64, Math.min(W, Math.round(Math.sqrt(area * aspect))));
    const h = Math.max(64, Math.min(H, Math.round(Math.sqrt(area / aspect))));
    const left = Math.floor(rnd() * (W - w + 1));
    const top = Math.floor(rnd() * (H - h + 1));
    const longSide = Math.round(320 + rnd() * (2048 - 320));
    const scale = Math.min(1, longSide / Math.max(w, h));
    const quality = 70 + Math.floor(rnd() * 26);
    await sharp(p)
      .extract({ left, top, width: w, height: h })
      .resize(Math.max(32, Math.round(w * scale)), Math.max(32, Math.round(h * scale)))
      .removeAlpha()
      .jpeg({ quality })
      .toFile(join(values.out!, `photo_${String(i).padStart(4, '0')}.jpg`));
  }
  console.log(`wrote ${count} JPEGs from ${sources.length} photographs to ${values.out}`);
}

await main();
