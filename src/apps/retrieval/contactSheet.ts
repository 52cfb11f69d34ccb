/**
 * An HTML contact sheet of duplicate groups: one row of thumbnails per group, each captioned with its file
 * name, pixel size, file size and similarity to the group's first image. Thumbnails are JPEG data URIs by
 * default, so the page is one self-contained file; with `inline: false` they are links to the images,
 * relative to the page's folder (a smaller page that breaks if either moves).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import sharp from 'sharp';
import type { DedupReport } from './dedup.js';

export interface ContactSheetOptions {
  /** Longest thumbnail side in pixels (default 160). */
  thumbnail?: number;
  /** Embed thumbnails as data URIs (default true). */
  inline?: boolean;
  title?: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function humanBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

async function tile(path: string, htmlDir: string, opts: Required<Pick<ContactSheetOptions, 'thumbnail' | 'inline'>>): Promise<{ src: string; caption: string }> {
  let caption = basename(path);
  let src = '';
  try {
    const bytes = await readFile(path);
    const meta = await sharp(bytes).metadata();
    caption += ` · ${meta.width}×${meta.height} · ${humanBytes((await stat(path)).size)}`;
    if (opts.inline) {
      const thumb = await sharp(bytes).rotate().resize(opts.thumbnail, opts.thumbnail, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
      src = `data:image/jpeg;base64,${thumb.toString('base64')}`;
    } else {
      src = relative(htmlDir, resolve(path)).split(sep).map(encodeURIComponent).join('/');
    }
  } catch (e) {
    caption += ` · unreadable (${(e as Error).message})`;
  }
  return { src, caption };
}

/** The page as a string. */
export async function contactSheetHtml(report: DedupReport, htmlPath: string, opts: ContactSheetOptions = {}): Promise<string> {
  const o = { thumbnail: opts.thumbnail ?? 160, inline: opts.inline ?? true };
  const htmlDir = dirname(resolve(htmlPath));
  const title = opts.title ?? `Near-duplicates (cosine ≥ ${report.threshold})`;
  const sections: string[] = [];
  for (const [gi, g] of report.groups.entries()) {
    const tiles = await Promise.all(g.members.map((m) => tile(m, htmlDir, o)));
    const figures = tiles.map(
      (t, i) =>
        `<figure>${t.src ? `<img src="${escapeHtml(t.src)}" alt="" loading="lazy">` : '<div class="missing">?</div>'}` +
        `<figcaption title="${escapeHtml(g.members[i]!)}">${escapeHtml(t.caption)}<br>${i === 0 ? 'reference' : `similarity ${g.similarityToFirst[i]!.toFixed(4)}`}</figcaption></figure>`,
    );
    sections.push(`<section><h2>Group ${gi + 1} · ${g.members.length} images</h2><div class="row">${figures.join('')}</div></section>`);
  }
  const size = o.thumbnail;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{font-size:1.3em}h2{font-size:1em;margin:1.2em 0 .4em}
.row{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:${size}px}
img,.missing{width:${size}px;height:${size}px;object-fit:contain;background:#eee;display:block}
.missing{display:flex;align-items:center;justify-content:center;color:#999}
figcaption{font-size:11px;word-break:break-all;margin-top:3px}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${report.images} images, ${report.groups.length} groups, ${report.duplicates} images in groups; model ${escapeHtml(report.model)}.</p>
${sections.join('\n') || '<p>No duplicates found.</p>'}
</body></html>
`;
}

export async function writeContactSheet(report: DedupReport, htmlPath: string, opts: ContactSheetOptions = {}): Promise<void> {
  await writeFile(htmlPath, await contactSheetHtml(report, htmlPath, opts));
}
