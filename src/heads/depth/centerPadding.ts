/**
 * `CenterPadding(multiple)` of `dinov2/hub/utils.py`: zero-pad the height and width of an NCHW batch up to the
 * next multiple of the patch size, the smaller half (`pad // 2`) before and the rest after. The official
 * depthers and segmenters apply it as a forward pre-hook on the backbone only, so the head's output covers
 * the padded extent and is then resized (not cropped) to the unpadded input size.
 */
import { Tensor } from '../../core/tensor.js';

/** (before, after) padding of one side. */
export function centerPad(size: number, multiple: number): [number, number] {
  if (!Number.isInteger(size) || size <= 0 || !Number.isInteger(multiple) || multiple <= 0) {
    throw new Error(`centerPad: invalid size ${size} or multiple ${multiple}`);
  }
  const pad = Math.ceil(size / multiple) * multiple - size;
  const before = Math.floor(pad / 2);
  return [before, pad - before];
}

/** The padded batch [B, C, H', W'] (a copy; the input itself when nothing needs padding). */
export function centerPadding(x: Tensor<'float32'>, multiple: number): Tensor<'float32'> {
  if (x.rank !== 4) throw new Error(`centerPadding: expected [B, C, H, W], got [${x.shape.join(', ')}]`);
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [top, bottom] = centerPad(H, multiple);
  const [left, right] = centerPad(W, multiple);
  if (top + bottom + left + right === 0) return x;
  const H2 = H + top + bottom;
  const W2 = W + left + right;
  const out = new Float32Array(B * C * H2 * W2);
  for (let p = 0; p < B * C; p++) {
    for (let y = 0; y < H; y++) {
      const src = (p * H + y) * W;
      out.set(x.data.subarray(src, src + W), (p * H2 + y + top) * W2 + left);
    }
  }
  return Tensor.float32(out, [B, C, H2, W2]);
}
