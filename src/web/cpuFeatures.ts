/**
 * The browser's stand-in for src/core/cpuFeatures.ts (the web build substitutes it): a page cannot read the
 * CPU's flags, so the safe answer is assumed (7-bit int8 weights, which never saturate).
 */
export function int8ProductsSaturate(): boolean {
  return true;
}
