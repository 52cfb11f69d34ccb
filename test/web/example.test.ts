/**
 * examples/browser works from a plain static server: its page loads a checkpoint by URL, runs an image and
 * draws the PCA picture and the attention map. Skipped only when no Chromium is installed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { CONFORMANCE_DIR, REPO_ROOT } from '../helpers.js';
import { findChromium } from './browserHelpers.js';
import { buildWeb } from '../../tools/buildWeb.js';
import { startStaticServer } from '../../tools/staticServer.js';

const chromiumPath = findChromium();

test('examples/browser: load a .safetensors URL, run an image, draw the pictures', { skip: chromiumPath ? false : 'chromium is not installed' }, async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'dinov2-example-test-'));
  const { outdir } = await buildWeb({ outdir: join(tmp, 'lib') });
  const server = await startStaticServer({ mounts: { '/': join(REPO_ROOT, 'examples/browser'), '/lib/': outdir, '/conformance/': CONFORMANCE_DIR } });
  const browser = await chromium.launch({ executablePath: chromiumPath!, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.selectOption('#weights', 'url');
    await page.fill('#url', '/conformance/models/tiny-reg4.safetensors');
    await page.selectOption('#device', 'cpu');
    await page.click('#load');
    await page.waitForFunction(() => /Loaded|rror|cannot/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    assert.match(await page.textContent('#status') ?? '', /Loaded .*ViT 48-d, depth 3, \d+ heads, 4 registers, on cpu/);
    await page.setInputFiles('#image', join(CONFORMANCE_DIR, 'images/chelsea.png'));
    await page.fill('#size', '126');
    await page.click('#run');
    await page.waitForFunction(() => /CLS token|rror|cannot/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    const status = (await page.textContent('#status')) ?? '';
    // chelsea.png is 451×300: shorter side 126, longer 126·451/300 = 189.4 → 14 patches of 14 = 196.
    assert.match(status, /chelsea\.png: 126×196 → 9×14 patches/);
    assert.match(status, /CLS token \[48\]/);
    const sizes = await page.$$eval('#pictures canvas', (cs) => cs.map((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]));
    assert.deepEqual(sizes, [[2 * 196, 126], [14, 9]]);
    // Bad input is shown, not thrown: a text file as the image.
    await page.setInputFiles('#image', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await page.click('#run');
    await page.waitForFunction(() => document.getElementById('status')!.className === 'error', null, { timeout: 60_000 });
    assert.match((await page.textContent('#status')) ?? '', /^notes\.txt: cannot decode the image/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
