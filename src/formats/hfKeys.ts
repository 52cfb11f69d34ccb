/**
 * Official DINOv2 ↔ Hugging Face transformers key names (`convert_dinov2_to_hf.py` and its registers twin).
 * The one structural difference: the official fused `attn.qkv` is HF's separate query/key/value, which
 * are the row blocks [0:D], [D:2D], [2D:3D] of the fused weight and bias.
 */

const TOP: ReadonlyArray<readonly [string, string]> = [
  ['cls_token', 'embeddings.cls_token'],
  ['mask_token', 'embeddings.mask_token'],
  ['pos_embed', 'embeddings.position_embeddings'],
  ['register_tokens', 'embeddings.register_tokens'],
  ['patch_embed.proj.weight', 'embeddings.patch_embeddings.projection.weight'],
  ['patch_embed.proj.bias', 'embeddings.patch_embeddings.projection.bias'],
  ['norm.weight', 'layernorm.weight'],
  ['norm.bias', 'layernorm.bias'],
];

/** Per-block module names (each with `.weight`/`.bias`, or the bare LayerScale vectors). */
const BLOCK: ReadonlyArray<readonly [string, string]> = [
  ['norm1', 'norm1'],
  ['norm2', 'norm2'],
  ['attn.proj', 'attention.output.dense'],
  ['mlp.fc1', 'mlp.fc1'],
  ['mlp.fc2', 'mlp.fc2'],
  ['mlp.w12', 'mlp.weights_in'],
  ['mlp.w3', 'mlp.weights_out'],
];

const LAYER_SCALE: ReadonlyArray<readonly [string, string]> = [
  ['ls1.gamma', 'layer_scale1.lambda1'],
  ['ls2.gamma', 'layer_scale2.lambda1'],
];

export const QKV_PARTS = ['query', 'key', 'value'] as const;
export type QkvPart = (typeof QKV_PARTS)[number];

/** Where an HF key goes: an official key, possibly one third of a fused qkv tensor. */
export interface OfficialTarget {
  key: string;
  part?: QkvPart;
}

const topToOfficial = new Map(TOP.map(([o, h]) => [h, o]));
const topToHf = new Map(TOP);

/** The official name of an (unprefixed) HF key, or undefined when it has none (e.g. `classifier.*`). */
export function hfToOfficial(hfKey: string): OfficialTarget | undefined {
  const top = topToOfficial.get(hfKey);
  if (top) return { key: top };
  const m = /^encoder\.layer\.(\d+)\.(.+)$/.exec(hfKey);
  if (!m) return undefined;
  const [, i, rest] = m as unknown as [string, string, string];
  const qkv = /^attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(rest);
  if (qkv) return { key: `blocks.${i}.attn.qkv.${qkv[2]}`, part: qkv[1] as QkvPart };
  for (const [o, h] of LAYER_SCALE) if (rest === h) return { key: `blocks.${i}.${o}` };
  for (const [o, h] of BLOCK) {
    for (const p of ['weight', 'bias']) if (rest === `${h}.${p}`) return { key: `blocks.${i}.${o}.${p}` };
  }
  return undefined;
}

/**
 * The HF names of an official key: one name, or three for a fused qkv tensor (query, key, value order);
 * undefined when the key has no HF counterpart.
 */
export function officialToHf(key: string): string[] | undefined {
  const top = topToHf.get(key);
  if (top) return [top];
  const m = /^blocks\.(\d+)\.(.+)$/.exec(key);
  if (!m) return undefined;
  const [, i, rest] = m as unknown as [string, string, string];
  const prefix = `encoder.layer.${i}`;
  const qkv = /^attn\.qkv\.(weight|bias)$/.exec(rest);
  if (qkv) return QKV_PARTS.map((p) => `${prefix}.attention.attention.${p}.${qkv[1]}`);
  for (const [o, h] of LAYER_SCALE) if (rest === o) return [`${prefix}.${h}`];
  for (const [o, h] of BLOCK) {
    for (const p of ['weight', 'bias']) if (rest === `${o}.${p}`) return [`${prefix}.${h}.${p}`];
  }
  return undefined;
}
