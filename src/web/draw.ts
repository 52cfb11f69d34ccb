/** Pictures for a page: an RGB image (e.g. pcaPicture's `side`) as ImageData to put on a canvas. */
import type { RgbImage } from '../data/image.js';

export function rgbToImageData(img: RgbImage): ImageData {
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) {
    rgba[i] = img.data[j]!;
    rgba[i + 1] = img.data[j + 1]!;
    rgba[i + 2] = img.data[j + 2]!;
    rgba[i + 3] = 255;
  }
  return new ImageData(rgba, img.width, img.height);
}
