import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage, DEFAULT_MAX_PIXELS } from '../../src/data/decode.js';

const W = 6;
const H = 5;

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dinov2-decode-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function pattern(channels: number, mul: number, add: number): Uint8Array {
  const a = new Uint8Array(W * H * channels);
  for (let i = 0; i < a.length; i++) a[i] = (i * mul + add) & 255;
  return a;
}

/** The RGB bytes PIL's convert('RGB') keeps from interleaved samples: R, G, B (or grey three times). */
function expectedRgb(src: ArrayLike<number>, channels: number, to8: (v: number) => number = (v) => v): number[] {
  const out: number[] = [];
  for (let i = 0; i < W * H; i++) {
    for (let c = 0; c < 3; c++) out.push(to8(src[i * channels + (channels < 3 ? 0 : c)]!));
  }
  return out;
}

async function decodeBuffer(buf: Buffer, opts = {}) {
  const img = await decodeImage(buf, opts);
  return { width: img.width, height: img.height, rgb: [...img.data] };
}

test('PNG grey → grey replicated to R, G, B', async () => {
  const grey = pattern(1, 53, 0);
  const png = await sharp(grey, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(png).metadata()).channels, 1);
  const img = await decodeBuffer(png);
  assert.deepEqual([img.width, img.height], [W, H]);
  assert.deepEqual(img.rgb, expectedRgb(grey, 1));
});

test('PNG RGBA → alpha dropped, colour kept even under alpha 0 (no compositing)', async () => {
  const rgba = pattern(4, 37, 11);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = i % 3 === 0 ? 0 : 90;
  const png = await sharp(rgba, { raw: { width: W, height: H, channels: 4 } }).png().toBuffer();
  assert.deepEqual((await decodeBuffer(png)).rgb, expectedRgb(rgba, 4));
});

test('16-bit PNG: grey clips at 255 (PIL mode I), RGB keeps the high byte', async () => {
  const grey = new Uint16Array(W * H);
  for (let i = 0; i < grey.length; i++) grey[i] = [0, 1, 200, 255, 256, 1000, 65535][i % 7]! + (i > 7 ? i : 0);
  const g16 = await sharp(grey, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  assert.equal((await sharp(g16).metadata()).depth, 'ushort');
  assert.deepEqual((await decodeBuffer(g16)).rgb, expectedRgb(grey, 1, (v) => Math.min(v, 255)));

  const rgb = new Uint16Array(W * H * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 5077 + 123) % 65536;
  const c16 = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  assert.deepEqual((await decodeBuffer(c16)).rgb, expectedRgb(rgb, 3, (v) => v >> 8));
});

test('WebP (lossless), TIFF, AVIF (lossless) decode to their RGB samples', async () => {
  const rgba = pattern(4, 41, 7);
  // libwebp may rewrite colour under alpha 0, so keep alpha positive here.
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = 1 + (i % 200);
  const raw = { raw: { width: W, height: H, channels: 4 as const } };
  const webp = await sharp(rgba, raw).webp({ lossless: true }).toBuffer();
  assert.deepEqual((await decodeBuffer(webp)).rgb, expectedRgb(rgba, 4));
  const tiff = await sharp(rgba, raw).tiff({ compression: 'deflate' }).toBuffer();
  assert.deepEqual((await decodeBuffer(tiff)).rgb, expectedRgb(rgba, 4));
  const rgb = pattern(3, 29, 3);
  const avif = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).avif({ lossless: true }).toBuffer();
  assert.equal((await sharp(avif).metadata()).format, 'heif');
  assert.deepEqual((await decodeBuffer(avif)).rgb, expectedRgb(rgb, 3));
});

test('GIF: palette colours; the first frame only', async () => {
  const colours = [
    [10, 200, 30],
    [250, 5, 90],
    [0, 0, 255],
    [128, 128, 128],
  ];
  const frame = (shift: number) => {
    const a = new Uint8Array(W * H * 4);
    for (let i = 0; i < W * H; i++) a.set([...colours[(i * 7 + shift) % 4]!, 255], i * 4);
    return a;
  };
  const first = frame(0);
  const twoPages = await sharp(Buffer.concat([frame(0), frame(1)]), { raw: { width: W, height: H * 2, channels: 4, pageHeight: H } })
    .gif({ dither: 0 })
    .toBuffer();
  const meta = await sharp(twoPages, { pages: -1 }).metadata();
  assert.equal(meta.pages, 2);
  const img = await decodeBuffer(twoPages);
  assert.deepEqual([img.width, img.height], [W, H]);
  assert.deepEqual(img.rgb, expectedRgb(first, 4));
});

test('GIF: a transparent pixel takes its palette colour (PIL palette lookup), not black', async () => {
  // Hand-assembled GIF89a, 2x1: palette [ (200,100,50), (10,20,30) ], index 1 transparent, pixels [0, 1].
  const gif = Buffer.from([
    ...Buffer.from('GIF89a'), 2, 0, 1, 0, 0x80, 0, 0, // screen 2x1, global table of 2 colours
    200, 100, 50, 10, 20, 30,
    0x21, 0xf9, 4, 0x01, 0, 0, 1, 0, // graphic control: transparent index 1
    0x2c, 0, 0, 0, 0, 2, 0, 1, 0, 0, // image descriptor 2x1, no local table
    2, 2, 0x44, 0x0a, 0, // LZW min code size 2; codes clear, 0, 1, end
    0x3b,
  ]);
  const img = await decodeBuffer(gif);
  assert.deepEqual([img.width, img.height], [2, 1]);
  assert.deepEqual(img.rgb, [200, 100, 50, 10, 20, 30]);
});

test('JPEG EXIF orientation 6: ignored by default, applied on request', async () => {
  // 16x8, left half red, right half blue, in 8x8 blocks so the JPEG keeps the colours almost exactly.
  const w = 16;
  const h = 8;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set(x < 8 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
  const jpeg = await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 100 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const isRed = (p: number[]) => p[0]! > 200 && p[2]! < 60;
  const isBlue = (p: number[]) => p[2]! > 200 && p[0]! < 60;

  const stored = await decodeImage(jpeg);
  assert.deepEqual([stored.width, stored.height], [16, 8]);
  assert.ok(isRed([...stored.data.subarray(0, 3)]));

  // Orientation 6 = rotate 90° clockwise to display: the stored left (red) half becomes the top half.
  const shown = await decodeImage(jpeg, { applyExifOrientation: true });
  assert.deepEqual([shown.width, shown.height], [8, 16]);
  const at = (x: number, y: number) => [...shown.data.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)];
  assert.ok(isRed(at(2, 2)) && isRed(at(6, 5)), `top ${at(2, 2)}`);
  assert.ok(isBlue(at(2, 12)) && isBlue(at(6, 14)), `bottom ${at(2, 12)}`);
});

test('a truncated JPEG, a corrupt file and a missing file are errors naming the file', async () => {
  const noise = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg()
    .toBuffer();
  const truncated = join(dir, 'truncated.jpg');
  await writeFile(truncated, noise.subarray(0, noise.length >> 1));
  await assert.rejects(decodeImage(truncated), (e: Error) => {
    assert.ok(e.message.startsWith(truncated), e.message);
    assert.match(e.message, /premature end|truncat/i);
    return true;
  });
  const corrupt = join(dir, 'corrupt.png');
  await writeFile(corrupt, Buffer.from('this is not an image at all'));
  await assert.rejects(decodeImage(corrupt), (e: Error) => e.message.startsWith(corrupt) && /cannot decode/.test(e.message));
  await assert.rejects(decodeImage(Buffer.from([1, 2, 3]), { name: 'upload#7' }), /^Error: upload#7: cannot decode/);
  const missing = join(dir, 'missing.jpg');
  await assert.rejects(decodeImage(missing), (e: Error) => e.message.startsWith(missing) && /cannot read/.test(e.message));
});

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG whose header claims `width`×`height` but whose pixel data is a few bytes: decoding it would fail. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('pixel limit: refused from the header, before decoding, with a clear error', async () => {
  assert.equal(DEFAULT_MAX_PIXELS, 178_956_970);
  const bomb = join(dir, 'bomb.png');
  await writeFile(bomb, pngHeaderOnly(20_000, 10_000));
  await assert.rejects(decodeImage(bomb), (e: Error) => {
    assert.ok(e.message.startsWith(bomb), e.message);
    assert.match(e.message, /20000x10000 = 200000000 pixels, above the limit of 178956970/);
    return true;
  });
  // Lifting the limit gets past the check; the (fake) pixel data then fails to decode instead.
  await assert.rejects(decodeImage(bomb, { maxPixels: Infinity }), (e: Error) => !/limit/.test(e.message));

  const small = await sharp({ create: { width: 20, height: 10, channels: 3, background: '#808080' } }).png().toBuffer();
  await assert.rejects(decodeImage(small, { maxPixels: 199 }), /200 pixels, above the limit of 199/);
  assert.equal((await decodeImage(small, { maxPixels: 200 })).width, 20);
});

test('a failed decode reports its own libvips message even while other decodes run (one error buffer per process)', async () => {
  // libvips keeps one error buffer for all threads: a decode finishing on another thread can clear it
  // between a failure and sharp reading it, which sharp then reports as "Unknown error".
  const good = await sharp(Buffer.from(pattern(3, 7, 1).fill(90, 0, 30)), { raw: { width: W, height: H, channels: 3 } })
    .resize(640, 480, { kernel: 'nearest' })
    .jpeg()
    .toBuffer();
  const truncated = good.subarray(0, Math.floor(good.length / 2));
  const alone = await decodeImage(truncated, { name: 'cut.jpg' }).then(
    () => assert.fail('the truncated JPEG decodes'),
    (e: Error) => e.message,
  );
  assert.match(alone, /^cut\.jpg: cannot decode the image \(.*JPEG.*\)$/i);
  for (let round = 0; round < 6; round++) {
    const inputs = Array.from({ length: 12 }, (_, i) => (i % 4 === 1 ? truncated : good));
    const results = await Promise.allSettled(inputs.map((b) => decodeImage(b, { name: 'cut.jpg' })));
    results.forEach((r, i) => {
      if (i % 4 === 1) assert.equal(r.status === 'rejected' && (r.reason as Error).message, alone, `round ${round}, input ${i}`);
      else assert.equal(r.status, 'fulfilled', `round ${round}, input ${i}`);
    });
  }
});
