/**
 * What the CPU can do, where it changes how a graph should be built. Read once from /proc/cpuinfo (Linux);
 * elsewhere the safe answer is assumed.
 */
import { readFileSync } from 'node:fs';

let flags: Set<string> | null = null;

function cpuFlags(): Set<string> {
  if (flags) return flags;
  flags = new Set();
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
    for (const f of line?.split(':')[1]?.trim().split(/\s+/) ?? []) flags.add(f);
  } catch {
    // Not Linux: no flags known.
  }
  return flags;
}

/**
 * Whether onnxruntime's uint8 × int8 kernels accumulate without saturating. On x86 without VNNI (AVX2,
 * AVX-512F) MLAS multiplies with `vpmaddubsw`, which adds each pair of u8·s8 products into a saturating
 * int16: two products of 255·127 overflow it. VNNI/AMX accumulate into int32, and Arm's kernels widen
 * before adding, so full-range int8 weights are safe there.
 */
export function int8ProductsSaturate(): boolean {
  if (process.arch === 'arm64') return false;
  if (process.arch !== 'x64' && process.arch !== 'ia32') return false;
  const f = cpuFlags();
  return !(f.has('avx512_vnni') || f.has('avx_vnni') || f.has('amx_int8'));
}
