/**
 * The web app in headless Chromium (Debian `chromium` driven by playwright-core), against a real server on
 * 127.0.0.1 with the tiny conformance model. Screenshots of each state go to test-output/screenshots.
 * Skipped only when no Chromium binary is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Page } from 'playwright-core';
import { scenePng, TINY } from './helpers.js';
import { REPO_ROOT, withTempDir } from '../helpers.js';
import { serve } from '../../src/serve/server.js';
import { buildWeb } from '../../tools/buildWeb.js';

const CHROMIUM = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));
const SHOTS = join(REPO_ROOT, 'test-output', 'screenshots');

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A picture of a disc on a gradient; the disc's colour and place depend on `seed`. */
const png = (seed: number, w = 160, h = 120) => scenePng(seed, w, h);

test('web app: explore (PCA at the image size, attention), errors shown, collection search finds the planted near-duplicate', { skip: CHROMIUM ? false : 'no Chromium binary', timeout: 300_000 }, async () => {
  await mkdir(SHOTS, { recursive: true });
  await withTempDir(async (dir) => {
    const running = await serve({ models: [`tiny=${TINY}`], logLevel: false, port: 0, collectionsDir: dir, maxPixels: 200_000, maxWaitMs: 2 });
    const browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(running.url + '/');
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.locator('#model').inputValue(), 'tiny');

      // Explore: PCA picture shown at the image's size, not blank; one attention map per head.
      const img = await png(1, 150, 100);
      await page.setInputFiles('#explore-file', { name: 'disc.png', mimeType: 'image/png', buffer: img });
      await page.waitForSelector('#explore-results:not([hidden])');
      const pca = await page.evaluate(() => {
        const el = document.getElementById('pca-img') as HTMLImageElement;
        const c = document.createElement('canvas');
        c.width = el.naturalWidth;
        c.height = el.naturalHeight;
        const ctx = c.getContext('2d')!;
        ctx.drawImage(el, 0, 0);
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        let lit = 0;
        const colours = new Set<number>();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i]! + d[i + 1]! + d[i + 2]! > 30) lit++;
          colours.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
        }
        return { w: el.naturalWidth, h: el.naturalHeight, lit, colours: colours.size };
      });
      assert.deepEqual([pca.w, pca.h], [150, 100]);
      assert.ok(pca.lit > 0 && pca.colours > 2, `PCA picture is blank (${pca.lit} lit pixels, ${pca.colours} colours)`);
      const heads = await page.locator('#attention canvas').count();
      assert.ok(heads >= 1);
      assert.equal(await page.locator('#attention canvas').first().evaluate((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height].join('x')), '150x100');
      await shot(page, '01-explore-pca-attention');

      // Errors: too many pixels (server's limit), a file that is not an image (refused before upload), a corrupt PNG.
      await page.setInputFiles('#explore-file', { name: 'huge.png', mimeType: 'image/png', buffer: await png(2, 600, 400) });
      await page.waitForSelector('#error:not([hidden])');
      assert.match((await page.locator('#error').textContent())!, /huge\.png\): image is 600x400 = 240000 pixels, above the limit of 200000/);
      await shot(page, '02-error-too-large');
      await page.setInputFiles('#explore-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
      await page.waitForFunction(() => /not an image/.test(document.getElementById('error')!.textContent ?? ''));
      assert.match((await page.locator('#error').textContent())!, /notes\.txt is not an image \(text\/plain\)/);
      await shot(page, '03-error-wrong-type');
      await page.setInputFiles('#explore-file', { name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('\x89PNG\r\n\x1a\n broken') });
      await page.waitForFunction(() => /cannot decode/.test(document.getElementById('error')!.textContent ?? ''));
      assert.match((await page.locator('#error').textContent())!, /broken\.png.*cannot decode the image/);
      await shot(page, '04-error-corrupt');

      // Collections: create from uploads (progress), search by the original of the planted copy.
      await page.click('#tab-collections');
      const scenes = await Promise.all([10, 11, 12, 13, 14, 15].map((s) => png(s)));
      const original = await png(20);
      const planted = await sharp(original).linear(1, 6).png().toBuffer();
      await page.fill('#collection-name', 'trip');
      await page.setInputFiles('#collection-files', [
        ...scenes.map((b, i) => ({ name: `scene-${i}.png`, mimeType: 'image/png', buffer: b })),
        { name: 'planted.png', mimeType: 'image/png', buffer: planted },
      ]);
      await page.click('#create-button');
      await page.waitForFunction(() => /Indexed 7 images into trip/.test(document.getElementById('index-status')!.textContent ?? ''));
      assert.equal(await page.locator('#index-progress').evaluate((p) => (p as HTMLProgressElement).value), 7);
      await shot(page, '05-collection-created');
      await page.setInputFiles('#search-file', { name: 'query.png', mimeType: 'image/png', buffer: original });
      await page.waitForSelector('#results figure');
      const first = await page.locator('#results figure').first().getAttribute('data-id');
      assert.equal(first, 'planted.png');
      await page.waitForFunction(() => [...document.querySelectorAll('#results img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
      await shot(page, '06-search-results');
      await page.click('#duplicates-button');
      await page.waitForSelector('#results .group figure');
      await shot(page, '07-duplicates');
      await page.click('#curate-button');
      await page.waitForFunction(() => /clusters; \d+ images kept/.test(document.getElementById('results-title')!.textContent ?? ''));
      await page.waitForFunction(() => [...document.querySelectorAll('#results img')].every((i) => (i as HTMLImageElement).complete));
      await shot(page, '08-curation-clusters');

      // Phone width: nothing wider than the screen.
      await page.setViewportSize({ width: 390, height: 844 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than a phone screen`);
      await shot(page, '09-phone-collections');
      await page.click('#tab-explore');
      await page.keyboard.press('ArrowRight');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-collections');
      await page.keyboard.press('ArrowLeft');
      await shot(page, '10-phone-explore');
    } finally {
      await browser.close();
      await running.close();
    }
  });
});

test('web app private mode: the search image is embedded in the page (no image bytes reach the server) and the planted near-duplicate is found first', { skip: CHROMIUM ? false : 'no Chromium binary', timeout: 300_000 }, async () => {
  await mkdir(SHOTS, { recursive: true });
  await withTempDir(async (dir) => {
    const { outdir } = await buildWeb({ outdir: join(dir, 'web'), minify: false });
    const running = await serve({ models: [`tiny=${TINY}`], logLevel: false, port: 0, collectionsDir: join(dir, 'db'), maxWaitMs: 2, webBundleDir: outdir });
    const browser = await chromium.launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      // The collection is built by the server (its vectors computed in Node).
      const scenes = await Promise.all([30, 31, 32, 33, 34, 35].map((s) => png(s)));
      const original = await png(40);
      const planted = await sharp(original).linear(1, 6).png().toBuffer();
      const post = (path: string, method: string, body: unknown) => fetch(running.url + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal((await post('/v1/collections/trip', 'PUT', {})).status, 201);
      const add = await post('/v1/collections/trip/images', 'POST', { images: [...scenes.map((b, i) => ({ id: `scene-${i}`, image: b.toString('base64') })), { id: 'planted', image: planted.toString('base64') }] });
      assert.equal(add.status, 200, await add.text());
      const serverSide = (await (await post('/v1/collections/trip/search', 'POST', { image: original.toString('base64'), k: 7 })).json()) as { data: { id: string; similarity: number }[] };

      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(running.url + '/');
      await page.waitForSelector('body[data-ready="true"]');
      assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated (threaded WASM)');
      await page.click('#tab-collections');
      await page.waitForFunction(() => (document.getElementById('collection-select') as HTMLSelectElement).value === 'trip');
      await page.check('#private-mode');

      // Every request from here on, with its body.
      const sent: { method: string; url: string; body: Buffer | null }[] = [];
      page.on('request', (r) => sent.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() }));
      await page.setInputFiles('#search-file', { name: 'query.png', mimeType: 'image/png', buffer: original });
      await page.waitForSelector('#results figure', { timeout: 240_000 });
      assert.deepEqual(errors, []);
      const ids = await page.locator('#results figure').evaluateAll((fs) => fs.map((f) => (f as HTMLElement).dataset['id']));
      assert.equal(ids[0], 'planted');
      assert.match((await page.locator('#private-status').textContent())!, /embedded in this page; only the vector was sent/);
      await shot(page, '11-private-search');

      // No image bytes left the page: the only request with a body is the search, and it holds a vector.
      const withBody = sent.filter((s) => s.body !== null && s.body.length > 0);
      assert.deepEqual(withBody.map((s) => [s.method, new URL(s.url).pathname]), [['POST', '/v1/collections/trip/search']]);
      const query = JSON.parse(withBody[0]!.body!.toString('utf8')) as { vector: number[]; k: number; image?: unknown };
      assert.deepEqual(Object.keys(query).sort(), ['k', 'vector']);
      for (const s of sent) {
        const body = s.body ?? Buffer.alloc(0);
        assert.equal(body.indexOf(Buffer.from('\x89PNG', 'latin1')), -1, `${s.url} carries PNG bytes`);
        assert.ok(!body.toString('latin1').includes(original.subarray(100, 160).toString('base64')), `${s.url} carries the image as base64`);
        assert.ok(!s.url.includes('multipart'));
      }
      assert.ok(sent.some((s) => s.method === 'GET' && new URL(s.url).pathname === '/v1/models/tiny/weights'), 'the page loaded the server\'s weights');
      // The page's vector is the server's: the same ranking, similarities within float32 noise.
      const pageHits = await (await post('/v1/collections/trip/search', 'POST', { vector: query.vector, k: 7 })).json() as { data: { id: string; similarity: number }[] };
      assert.deepEqual(pageHits.data.map((h) => h.id), serverSide.data.map((h) => h.id));
      pageHits.data.forEach((h, i) => assert.ok(Math.abs(h.similarity - serverSide.data[i]!.similarity) < 1e-4, `${h.id}: ${h.similarity} vs ${serverSide.data[i]!.similarity}`));
    } finally {
      await browser.close();
      await running.close();
    }
  });
});
