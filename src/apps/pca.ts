/**
 * The DINOv2 patch-feature visualisation (the paper's Figure 1, the official PCA notebook):
 * 1. patch tokens of one image (dense transform: aspect ratio kept);
 * 2. PCA over all patches; the first component separates object from background. Its sign is arbitrary, so
 *    it is oriented to make the positive side the smaller one (the object is assumed to cover less of the
 *    frame than the background); foreground = projection > threshold (default 0, as the notebook; 'auto'
 *    = Otsu's threshold on the oriented projections). Projections are in the features' own units, centred
 *    on the mean patch;
 * 3. PCA with 3 components over the foreground patches only, each component min-max scaled to [0, 1] over
 *    the foreground → RGB; background black;
 * 4. the patch map upsampled (nearest: one 14×14 block per patch, or bilinear) to the resized image and
 *    written beside it as one PNG (width 2·W, height H).
 * The covariance is D×D (D ≤ 1536), so its top eigenvectors come from block subspace iteration with a small
 * Jacobi solve for the Rayleigh–Ritz step, in float64.
 */
import { GLYPH_HEIGHT, drawTextInPlace, labelScale, textWidth } from './viz/text.js';
import sharp from 'sharp';
import { decodeImage } from '../data/decode.js';
import type { RgbImage } from '../data/image.js';
import type { ImageInput } from '../data/imagePipeline.js';
import { pcaPicture, type PcaPicture, type PcaPictureOptions } from '../eval/pcaMap.js';

export * from '../eval/pcaMap.js';

export type PcaImageOptions = PcaPictureOptions;

export interface PcaImageResult extends Omit<PcaPicture, 'side'> {
  /** The resized image and the PCA map side by side: (2·width) × height, as PNG. */
  png: Uint8Array;
}

export async function pcaImage(image: ImageInput, opts: PcaImageOptions): Promise<PcaImageResult> {
  const rgb: RgbImage = typeof image === 'string' || image instanceof Uint8Array ? await decodeImage(image) : image;
  const { side, ...rest } = await pcaPicture(rgb, opts);
  // A caption on the PCA half: what the colours are, and how the foreground was chosen.
  const W = rest.width;
  const [h, w] = rest.grid;
  const ls = labelScale(W, rest.height);
  const fg = rest.foregroundMask.reduce((a, b) => a + b, 0);
  const caption = [`PCA OF ${h}X${w} PATCH FEATURES`, `RGB = PC 1-3 OF THE FOREGROUND`, `FOREGROUND: PC1 > ${rest.threshold.toPrecision(3)} (${fg}/${h * w})`];
  const lineH = (GLYPH_HEIGHT + 3) * ls;
  const sideImage = { width: 2 * W, height: rest.height, data: side };
  if (caption.every((c) => textWidth(c, ls) + 4 * ls <= W) && caption.length * lineH + 4 * ls <= rest.height) {
    caption.forEach((c, i) => drawTextInPlace(sideImage, c, W + 3 * ls, rest.height - (caption.length - i) * lineH - ls, { scale: ls, background: [0, 0, 0] }));
  }
  const png = await sharp(side, { raw: { width: 2 * W, height: rest.height, channels: 3 } }).png().toBuffer();
  return { png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength), ...rest };
}
