/** Test data with known structure, from a generator independent of the code under test. */

/** mulberry32: a tiny seeded uniform generator in [0, 1). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(seed: number): () => number {
  const u = uniform(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** `perClass` points around each of `classes` random centres in D dimensions (centre scale 3, noise `noise`). */
export function clusters(classes: number, perClass: number, D: number, noise: number, seed: number, centresSeed = 1234) {
  const gc = gaussian(centresSeed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: D }, () => 3 * gc()));
  const g = gaussian(seed);
  const x = new Float32Array(classes * perClass * D);
  const labels = new Int32Array(classes * perClass);
  let i = 0;
  for (let p = 0; p < perClass; p++) {
    for (let c = 0; c < classes; c++) {
      for (let d = 0; d < D; d++) x[i * D + d] = centres[c]![d]! + noise * g();
      labels[i++] = c;
    }
  }
  return { x, labels };
}
