/**
 * Colour maps for scalar images (depth, attention), as 256-entry RGB lookup tables computed from their
 * definitions:
 * - `turbo`: Google's improved rainbow map (Mikhailov 2019), via the degree-5 polynomial approximation
 *   published with it (one polynomial per channel over t ∈ [0, 1]).
 * - `cubehelix`: Green (2011, Bull. Astr. Soc. India 39, 289): a helix around the grey diagonal whose
 *   perceived brightness rises monotonically, so it also reads in greyscale print.
 * - `grey`: linear.
 * A `_r` suffix reverses a map (for depth, `turbo_r` shows near as red and far as blue).
 */

export const COLORMAPS = ['turbo', 'turbo_r', 'cubehelix', 'cubehelix_r', 'grey', 'grey_r'] as const;
export type ColormapName = (typeof COLORMAPS)[number];

const TURBO: readonly (readonly number[])[] = [
  [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
  [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
  [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
];

function turbo(t: number): [number, number, number] {
  const channel = (c: readonly number[]): number => c.reduceRight((acc, coef) => acc * t + coef, 0);
  return [channel(TURBO[0]!), channel(TURBO[1]!), channel(TURBO[2]!)];
}

/** Green's parameters: start colour 0.5 (purple), −1.5 rotations, hue 1, gamma 1. */
function cubehelix(t: number, start = 0.5, rotations = -1.5, hue = 1, gamma = 1): [number, number, number] {
  const l = t ** gamma;
  const phi = 2 * Math.PI * (start / 3 + rotations * t);
  const a = (hue * l * (1 - l)) / 2;
  const c = Math.cos(phi);
  const s = Math.sin(phi);
  return [l + a * (-0.14861 * c + 1.78277 * s), l + a * (-0.29227 * c - 0.90649 * s), l + a * (1.97294 * c)];
}

export function isColormapName(name: string): name is ColormapName {
  return (COLORMAPS as readonly string[]).includes(name);
}

const cache = new Map<ColormapName, Uint8Array>();

/** 256 RGB entries (768 bytes) of a colour map. */
export function colormapLut(name: ColormapName): Uint8Array {
  const hit = cache.get(name);
  if (hit) return hit;
  const reverse = name.endsWith('_r');
  const base = name.replace(/_r$/, '');
  const fn = base === 'turbo' ? turbo : base === 'cubehelix' ? cubehelix : (t: number): [number, number, number] => [t, t, t];
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) {
    const t = (reverse ? 255 - i : i) / 255;
    fn(t).forEach((v, c) => (lut[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, v)))));
  }
  cache.set(name, lut);
  return lut;
}

/** Scalar values → interleaved RGB, mapping [lo, hi] onto the map (values outside are clamped; NaN is black). */
export function applyColormap(values: ArrayLike<number>, name: ColormapName, lo: number, hi: number): Uint8Array {
  const lut = colormapLut(name);
  const out = new Uint8Array(values.length * 3);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    const k = Math.min(255, Math.max(0, Math.round(((v - lo) / span) * 255)));
    out[i * 3] = lut[k * 3]!;
    out[i * 3 + 1] = lut[k * 3 + 1]!;
    out[i * 3 + 2] = lut[k * 3 + 2]!;
  }
  return out;
}

/** Smallest and largest finite value. */
export function finiteRange(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}
