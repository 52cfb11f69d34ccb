/** Headless Chromium (Debian's `chromium`, driven by playwright-core) serving the web build from 127.0.0.1. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildWeb } from '../../tools/buildWeb.js';
import { startStaticServer, type StaticServer } from '../../tools/staticServer.js';

/** The Chromium binary ($CHROMIUM_PATH, or Debian's), or null when none is installed. */
export function findChromium(): string | null {
  for (const p of [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && existsSync(p)) return p;
  }
  return null;
}

export interface WebFixture {
  page: Page;
  server: StaticServer;
  /** Folder served under /tmp/. */
  tmp: string;
  close(): Promise<void>;
}

const PAGE = '<!doctype html><meta charset="utf-8"><title>dinov2-ts/web test</title><body></body>';

/**
 * Builds the bundle into a temp folder and serves it at /lib/, `mounts` beside it, and a blank page at
 * /index.html; opens that page (cross-origin isolated) in headless Chromium.
 */
export async function openWebFixture(mounts: Record<string, string>, opts: { noRangesUnder?: string[] } = {}): Promise<WebFixture> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no chromium');
  const tmp = await mkdtemp(join(tmpdir(), 'dinov2-web-test-'));
  let server: StaticServer | null = null;
  let browser: Browser | null = null;
  try {
    const { outdir } = await buildWeb({ outdir: join(tmp, 'lib'), minify: false });
    await writeFile(join(tmp, 'index.html'), PAGE);
    server = await startStaticServer({ mounts: { '/lib/': outdir, '/tmp/': tmp, '/': tmp, ...mounts }, ...opts });
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/index.html`);
    const b = browser;
    const s = server;
    return {
      page,
      server,
      tmp,
      close: async () => {
        await b.close();
        await s.close();
        await rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close();
    await server?.close();
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Float32 data ↔ base64 (how tensors cross between the page and Node). */
export function fromBase64F32(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/**
 * Page-side helpers, defined once per page: window.__b64(typedArray), and the `__name` helper that tsx's
 * esbuild transform inserts into functions passed to page.evaluate.
 */
export const PAGE_HELPERS = `
window.__name = (f) => f;
window.__b64 = (a) => {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
  return btoa(s);
};
`;
