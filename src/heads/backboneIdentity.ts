/**
 * Which backbone a trained head belongs to. A head file records the backbone's name, its architecture and a
 * probe — the CLS token of a fixed 2×2-patch input, which differs between any two differently trained (or
 * initialised) backbones even of the same width — and a head is refused on a backbone that does not match.
 */
import { ArgumentError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { Dinov2 } from '../models/dinov2.js';
import type { BackboneConfig } from '../models/config.js';

/** The safetensors metadata key holding `BackboneIdentity` as JSON. */
export const BACKBONE_IDENTITY_KEY = 'backbone_identity';

const ARCH_KEYS = ['embed_dim', 'depth', 'num_heads', 'patch_size', 'num_register_tokens', 'ffn_layer', 'mlp_ratio'] as const satisfies readonly (keyof BackboneConfig)[];
/** Leading CLS values kept as the probe. */
const PROBE_LENGTH = 32;
/** Cosine similarity of the probes above which two backbones count as the same (int8/fp16 runs stay far above). */
export const SAME_BACKBONE_COSINE = 0.99;

export interface BackboneIdentity {
  name: string;
  architecture: Pick<BackboneConfig, (typeof ARCH_KEYS)[number]>;
  probe: number[];
}

/** The fixed probe input: a smooth pattern over 2×2 patches, ImageNet-normalised scale. */
function probeInput(patch: number, channels: number): Tensor<'float32'> {
  const side = 2 * patch;
  const data = new Float32Array(channels * side * side);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) data[(c * side + y) * side + x] = Math.sin(0.37 * x + 0.23 * y + 1.1 * c);
  }
  return Tensor.float32(data, [1, channels, side, side]);
}

/** The identity of a loaded backbone (one forward pass of a 2×2-patch input). */
export async function backboneIdentity(model: Dinov2): Promise<BackboneIdentity> {
  const { clsToken } = await model.forwardFeatures(probeInput(model.config.patch_size, model.config.in_chans));
  const architecture = Object.fromEntries(ARCH_KEYS.map((k) => [k, model.config[k]])) as BackboneIdentity['architecture'];
  return { name: model.name, architecture, probe: [...clsToken.data.subarray(0, PROBE_LENGTH)].map((v) => +v.toPrecision(6)) };
}

/** `BackboneIdentity` as head-file metadata. */
export function identityMetadata(id: BackboneIdentity): Record<string, string> {
  return { [BACKBONE_IDENTITY_KEY]: JSON.stringify(id) };
}

/** The identity a head file's metadata records, or undefined (released heads, older files). */
export function recordedIdentity(metadata: Record<string, unknown> | undefined): BackboneIdentity | undefined {
  const v = metadata?.[BACKBONE_IDENTITY_KEY];
  if (typeof v !== 'string') return undefined;
  try {
    const id = JSON.parse(v) as BackboneIdentity;
    return Array.isArray(id.probe) && typeof id.architecture === 'object' ? id : undefined;
  } catch {
    return undefined;
  }
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb || 1);
}

export class BackboneMismatchError extends ArgumentError {
  constructor(message: string) {
    super(['force'], message);
    this.name = 'BackboneMismatchError';
  }
}

/**
 * Refuses a head recorded for another backbone: a different architecture, or the same one with other weights
 * (probe cosine below SAME_BACKBONE_COSINE). `force` turns the refusal off. No record: nothing to check.
 */
export async function checkHeadBackbone(head: string, metadata: Record<string, unknown> | undefined, model: Dinov2, opts: { force?: boolean } = {}): Promise<void> {
  const recorded = recordedIdentity(metadata);
  if (!recorded || opts.force) return;
  const actual = await backboneIdentity(model);
  const differ = ARCH_KEYS.filter((k) => recorded.architecture[k] !== undefined && recorded.architecture[k] !== actual.architecture[k]);
  if (differ.length > 0) {
    const what = differ.map((k) => `${k} ${String(actual.architecture[k])} (head trained with ${String(recorded.architecture[k])})`).join(', ');
    throw new BackboneMismatchError(`${head} was trained on ${recorded.name}, another architecture than ${model.name}: ${what}; use that backbone (or force to run it anyway)`);
  }
  const c = cosine(recorded.probe, actual.probe);
  if (!(c >= SAME_BACKBONE_COSINE)) {
    throw new BackboneMismatchError(`${head} was trained on ${recorded.name}; ${model.name} has the same architecture but other weights (probe similarity ${c.toFixed(3)}); use that backbone (or force to run it anyway)`);
  }
}
