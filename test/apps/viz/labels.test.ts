/**
 * #13 item 11: pictures a person can read — attention tiles labelled by head and register, the depth picture's
 * colour scale in metres, the PCA caption — drawn with the bitmap font of apps/viz/text.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { drawText, textWidth, GLYPH_HEIGHT } from '../../../src/apps/viz/text.js';
import { withDepthScale } from '../../../src/apps/depth.js';
import { applyColormap } from '../../../src/apps/viz/colormap.js';
import { attentionGrid } from '../../../src/apps/attention.js';
import { pcaImage } from '../../../src/apps/pca.js';
import { decodeImage } from '../../../src/data/decode.js';
import { loadBackbone } from '../../../src/models/load.js';
import type { RgbImage } from '../../../src/data/image.js';
import { CONFORMANCE_DIR } from '../../helpers.js';

const px = (img: RgbImage, x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
const grey = (w: number, h: number, v = 128): RgbImage => ({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) });
const count = (img: RgbImage, x0: number, y0: number, w: number, h: number, rgb: number[]): number => {
  let n = 0;
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (px(img, x, y).every((v, i) => v === rgb[i])) n++;
  return n;
};

test('drawText: "1" is the 5×7 glyph (stem in the middle column, serif at the bottom); width is 6 px per glyph less one', () => {
  const img = drawText(grey(12, 9, 0), '1', 1, 1);
  const on = (x: number, y: number) => px(img, 1 + x, 1 + y)[0] === 255;
  for (let y = 0; y < 7; y++) assert.ok(on(2, y), `stem at row ${y}`);
  assert.ok(on(1, 6) && on(3, 6) && on(1, 1) && !on(0, 0) && !on(4, 3));
  assert.equal(textWidth('ABC'), 17);
  assert.equal(textWidth('AB', 3), 33);
});

test('the depth scale: a black box in the bottom-left corner, the colour map from near to far, both depths in metres', () => {
  const img = grey(512, 512);
  const out = withDepthScale(img, { min: 1.25, max: 9.5 }, 'turbo_r');
  // Outside the box nothing changes; inside, the bar's ends are the colour map's ends.
  assert.deepEqual(px(out, 500, 10), [128, 128, 128]);
  assert.deepEqual(px(out, 300, 500), [128, 128, 128]);
  const s = 3;
  const [x0, pad] = [2 * s, 3 * s];
  const boxH = pad + 6 * s + pad + GLYPH_HEIGHT * s + pad;
  const y0 = 512 - boxH - 2 * s;
  assert.deepEqual(px(out, x0, y0), [0, 0, 0]);
  assert.deepEqual(px(out, x0 + pad, y0 + pad), [...applyColormap([0], 'turbo_r', 0, 1)]);
  const barW = Math.max(Math.min(Math.round(512 * 0.4), 160 * s), textWidth('1.25 M', s) + textWidth('9.50 M', s) + 6 * s);
  assert.deepEqual(px(out, x0 + pad + barW - 1, y0 + pad), [...applyColormap([1], 'turbo_r', 0, 1)]);
  // White text under the bar, where the labels go.
  assert.ok(count(out, x0 + pad, y0 + pad + 6 * s + pad, textWidth('1.25 M', s), GLYPH_HEIGHT * s, [255, 255, 255]) > 50);
  // Too small a picture keeps no scale rather than a broken one.
  const small = grey(40, 30);
  assert.equal(withDepthScale(small, { min: 1, max: 2 }, 'turbo'), small);
});

test('attention tiles carry a head label (white on black, top-left); register tiles too; PCA has its caption', async () => {
  const model = await loadBackbone(join(CONFORMANCE_DIR, 'models', 'tiny-reg4-hf'));
  try {
    const img = await decodeImage(join(CONFORMANCE_DIR, 'images', 'chelsea.png'));
    const g = await attentionGrid(model, img, { size: 56, tileMax: 320, showRegisters: true });
    const [tw, th] = g.tile;
    assert.equal(g.heads, 3);
    for (let row = 0; row < 3; row++) {
      for (let col = 0; col < 5; col++) {
        const x = col * (tw + 2);
        const y = row * (th + 2);
        const label = col === 0 ? `HEAD ${row}` : `H${row} REG ${col - 1}: 0.000`;
        const region = [x + 2, y + 2, textWidth(label, 2), GLYPH_HEIGHT * 2] as const;
        assert.ok(count(g.image, ...region, [255, 255, 255]) > 20, `tile ${row},${col}: no white label`);
        assert.ok(count(g.image, ...region, [0, 0, 0]) > 20, `tile ${row},${col}: no label background`);
      }
    }
    const p = await pcaImage(img, { model, dense: 224 });
    const decoded = await decodeImage(p.png);
    assert.ok(count(decoded, p.width, p.height - 40, p.width, 40, [255, 255, 255]) > 50, 'no caption on the PCA half');
  } finally {
    await model.dispose();
  }
});
