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
