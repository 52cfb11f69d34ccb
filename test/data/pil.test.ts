/**
 * Bit-exact checks against Pillow (and torchvision) themselves, run when a Python with PIL is available
 * (`PIL_PYTHON`, default /usr/bin/python3); skipped otherwise. Python writes raw bytes / float32 files that
 * are compared here byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../../src/data/decode.js';
import { resize } from '../../src/data/resample.js';
import { evalTransform } from '../../src/data/transforms.js';
import { PYTHON, HAS_PIL, HAS_TORCHVISION, python, tempDirForTests, randomImage, firstDifference } from './pythonReference.js';

const dirOf = tempDirForTests('dinov2-pil-');



test('resize equals PIL Image.resize exactly (bicubic and bilinear)', { skip: !HAS_PIL && `no PIL in ${PYTHON}` }, async () => {
  const shapes = [[1, 1], [2, 3], [13, 9], [100, 37], [451, 300], [37, 518]];
  const targets = (w: number, h: number) => [[1, 1], [3, 5], [w, Math.max(1, Math.round(h * 0.61))], [Math.max(1, Math.round(w * 0.37)), h], [17, 11], [256, 200], [2 * w + 1, 3 * h]];
  const jobs: Array<{ w: number; h: number; ow: number; oh: number; filter: 'bicubic' | 'bilinear'; seed: number }> = [];
  for (const [w, h] of shapes) {
    for (const [ow, oh] of targets(w!, h!)) for (const filter of ['bicubic', 'bilinear'] as const) jobs.push({ w: w!, h: h!, ow: ow!, oh: oh!, filter, seed: w! * 1000 + h! });
  }
  for (const j of jobs) await writeFile(join(dirOf(), `in_${j.seed}.raw`), randomImage(j.w, j.h, j.seed).data);
  await writeFile(join(dirOf(), 'jobs.json'), JSON.stringify(jobs));
  python(
    `
import json, sys, os
from PIL import Image
d = sys.argv[1]
for i, j in enumerate(json.load(open(os.path.join(d, 'jobs.json')))):
    im = Image.frombytes('RGB', (j['w'], j['h']), open(os.path.join(d, 'in_%d.raw' % j['seed']), 'rb').read())
    f = Image.BICUBIC if j['filter'] == 'bicubic' else Image.BILINEAR
    open(os.path.join(d, 'out_%d.raw' % i), 'wb').write(im.resize((j['ow'], j['oh']), f).tobytes())
`,
    dirOf(),
  );
  for (const [i, j] of jobs.entries()) {
    const ours = resize(randomImage(j.w, j.h, j.seed), j.ow, j.oh, j.filter);
    const theirs = await readFile(join(dirOf(), `out_${i}.raw`));
    const diff = firstDifference(ours.data, theirs);
    assert.equal(diff, null, `${j.w}x${j.h} → ${j.ow}x${j.oh} ${j.filter}: ${diff}`);
  }
});

test('evalTransform equals torchvision Resize+CenterCrop+ToTensor+Normalize exactly', { skip: !HAS_TORCHVISION && 'no torchvision' }, async () => {
  // Sizes that give odd crop margins (banker's rounding), upsampling, and portrait/landscape.
  const shapes = [[300, 227], [227, 301], [100, 60], [641, 429], [256, 256], [257, 999]];
  for (const [i, [w, h]] of shapes.entries()) await writeFile(join(dirOf(), `eval_${i}.raw`), randomImage(w!, h!, i + 17).data);
  await writeFile(join(dirOf(), 'eval.json'), JSON.stringify(shapes));
  python(
    `
import json, sys, os
from PIL import Image
import torchvision.transforms as T
d = sys.argv[1]
tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
for i, (w, h) in enumerate(json.load(open(os.path.join(d, 'eval.json')))):
    im = Image.frombytes('RGB', (w, h), open(os.path.join(d, 'eval_%d.raw' % i), 'rb').read())
    open(os.path.join(d, 'eval_%d.f32' % i), 'wb').write(tf(im).numpy().astype('<f4').tobytes())
`,
    dirOf(),
  );
  for (const [i, [w, h]] of shapes.entries()) {
    const ours = evalTransform(randomImage(w!, h!, i + 17));
    const bytes = await readFile(join(dirOf(), `eval_${i}.f32`));
    const theirs = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    assert.equal(firstDifference(ours.data, theirs), null, `${w}x${h}`);
  }
});

test('decodeImage equals PIL Image.open(f).convert("RGB") exactly', { skip: !HAS_PIL && `no PIL in ${PYTHON}` }, async () => {
  const W = 9;
  const H = 7;
  const u16 = (channels: number, mul: number, add: number) => {
    const a = new Uint16Array(W * H * channels);
    for (let i = 0; i < a.length; i++) a[i] = (i * mul + add) % 65536;
    a[0] = 255;
    a[1] = 256;
    return a;
  };
  const u8 = (channels: number, mul: number, add: number) => {
    const a = new Uint8Array(W * H * channels);
    for (let i = 0; i < a.length; i++) a[i] = (i * mul + add) & 255;
    return a;
  };
  const raw = (channels: 1 | 2 | 3 | 4) => ({ raw: { width: W, height: H, channels } });
  const rgba = u8(4, 37, 11);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = i % 3 === 0 ? 0 : (i * 13) & 255;
  const photo = '/work/shared/conformance/images/chelsea.png';
  const files: Record<string, Buffer> = {
    'grey16.png': await sharp(u16(1, 3271, 0), raw(1)).toColourspace('grey16').png().toBuffer(),
    'greyalpha16.png': await sharp(u16(2, 7919, 3), raw(2)).toColourspace('grey16').png().toBuffer(),
    'rgb16.png': await sharp(u16(3, 5077, 123), raw(3)).toColourspace('rgb16').png().toBuffer(),
    'rgba16.png': await sharp(u16(4, 6007, 5), raw(4)).toColourspace('rgb16').png().toBuffer(),
    'grey16.tiff': await sharp(u16(1, 3271, 0), raw(1)).toColourspace('grey16').tiff({ compression: 'lzw' }).toBuffer(),
    'greyalpha.png': await sharp(u8(2, 91, 7), raw(2)).toColourspace('b-w').png().toBuffer(),
    'palette.png': await sharp(rgba, raw(4)).png({ palette: true, colours: 6 }).toBuffer(),
    'transparent.gif': await sharp(rgba, raw(4)).gif().toBuffer(),
    'cmyk.jpg': await sharp(u8(3, 41, 9), raw(3)).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer(),
    'lossy.webp': await sharp(rgba, raw(4)).webp({ quality: 70 }).toBuffer(),
  };
  try {
    await readFile(photo);
    files['420.jpg'] = await sharp(photo).jpeg({ quality: 85, chromaSubsampling: '4:2:0' }).toBuffer();
    files['progressive.jpg'] = await sharp(photo).jpeg({ quality: 80, progressive: true }).toBuffer();
    files['photo.webp'] = await sharp(photo).webp({ quality: 80 }).toBuffer();
  } catch {
    // The conformance images are optional here; the synthetic files still cover every conversion rule.
  }
  for (const [name, buf] of Object.entries(files)) await writeFile(join(dirOf(), name), buf);
  await writeFile(join(dirOf(), 'decode.json'), JSON.stringify(Object.keys(files)));
  python(
    `
import json, sys, os
from PIL import Image
d = sys.argv[1]
for f in json.load(open(os.path.join(d, 'decode.json'))):
    open(os.path.join(d, f + '.pil'), 'wb').write(Image.open(os.path.join(d, f)).convert('RGB').tobytes())
`,
    dirOf(),
  );
  for (const name of Object.keys(files)) {
    const ours = await decodeImage(join(dirOf(), name));
    const theirs = await readFile(join(dirOf(), `${name}.pil`));
    assert.equal(firstDifference(ours.data, theirs), null, name);
  }
});
