/**
 * torch.linspace(start, end, steps) in float32, value for value as PyTorch's CPU kernel (AVX2 build) computes
 * it: the lower half counts up from `start`, the upper half down from `end`; in blocks of 16 (two 8-lane
 * vectors) each 8-lane block starts at a fused multiply-add (GCC contracts `start + step * idx`) and adds
 * `i · step` per lane; the tail is scalar, also fused. Another vector width would differ in the last bit.
 * Used for the depth bins and the iBOT mask-ratio bins.
 */
export function torchLinspaceFloat32(start: number, end: number, steps: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f(start);
  const e = f(end);
  const step = f(f(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  // fma(a, b, c): the float32 product is exact in a double, so one rounding after the addition.
  const at = (idx: number): number => (idx < halfway ? f(step * idx + s) : f(-step * (steps - idx - 1) + e));
  const vectorised = Math.floor(steps / 16) * 16;
  for (let base = 0; base < vectorised; base += 8) {
    const b = at(base);
    for (let i = 0; i < 8; i++) out[base + i] = f(b + f(i * step));
  }
  for (let idx = vectorised; idx < steps; idx++) out[idx] = at(idx);
  return out;
}
