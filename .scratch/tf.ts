import { readdirSync } from 'node:fs';
import { decodeImage } from '../src/data/decode.js';
import { evalTransform, centerCrop, resizeShorterSide, normalize, toTensor } from '../src/data/transforms.js';
import { median } from '../bench/workers/protocol.js';
import { loadavg } from 'node:os';
const dir = '.cache/e2e-photos';
const files = readdirSync(dir).sort().slice(0, 24);
const imgs = await Promise.all(files.map((f) => decodeImage(`${dir}/${f}`)));
const old = (img: any) => normalize(toTensor(centerCrop(resizeShorterSide(img, 256), 224)));
const a: number[] = [], b: number[] = [];
for (let r = 0; r < 4; r++) {
  let t = performance.now(); for (const i of imgs) old(i); a.push(performance.now() - t);
  t = performance.now(); for (const i of imgs) evalTransform(i); b.push(performance.now() - t);
}
for (const i of imgs) { const x = old(i).data, y = evalTransform(i).data; if (x.length !== y.length || x.some((v, k) => v !== y[k])) throw new Error('mismatch'); }
console.log('resize+crop', (median(a) / imgs.length).toFixed(1), 'ms/img; cropped resize', (median(b) / imgs.length).toFixed(1), 'ms/img; ratio', (median(a) / median(b)).toFixed(2), 'load', loadavg()[0]!.toFixed(2));
