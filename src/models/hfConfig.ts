/**
 * HF `config.json` ↔ the constructor arguments of the official `DinoVisionTransformer`.
 *
 * The interpolation settings are the *official* ones for the model family, not what transformers does:
 * the registers models interpolate position embeddings with antialias and no offset, the others with the
 * 0.1 offset (current transformers drops that offset, which is why it differs from the original at
 * non-native sizes; see the reference §1.9). Converting back to HF therefore loses nothing HF can express.
 */
import { validateBackboneConfig, type BackboneConfig } from './config.js';

export type { BackboneConfig };

export type HfModelType = 'dinov2' | 'dinov2_with_registers';

/** The config.json key behind each BackboneConfig field, for messages. */
const HF_NAMES: Partial<Record<keyof BackboneConfig, string>> = {
  img_size: 'image_size',
  patch_size: 'patch_size',
  embed_dim: 'hidden_size',
  depth: 'num_hidden_layers',
  num_heads: 'num_attention_heads',
  mlp_ratio: 'mlp_ratio',
  num_register_tokens: 'num_register_tokens',
  init_values: 'layerscale_value',
  layer_norm_eps: 'layer_norm_eps',
  in_chans: 'num_channels',
};

/** A config value for a message: never more than its type (config files may hold anything). */
const shown = (v: unknown): string => (typeof v === 'string' ? `'${v.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}${v.length > 40 ? '…' : ''}'` : v === null ? 'null' : typeof v === 'object' ? `a ${Array.isArray(v) ? 'list' : 'object'}` : String(v));

/**
 * transformers' config.json → BackboneConfig, every field checked for type and range (see
 * `validateBackboneConfig`) before anything is built; messages name `what` (the file) and the HF key.
 */
export function hfConfigToBackboneConfig(config: Record<string, unknown>, what = 'config.json'): BackboneConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error(`${what}: not a JSON object`);
  /** Sizes are required; the few fallbacks are transformers' class defaults, which released configs all spell out. */
  const num = (cfg: Record<string, unknown>, key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what}: '${key}' is ${v === undefined ? 'missing' : `not a number (${shown(v)})`}`);
    return v;
  };
  const type = config.model_type;
  if (type !== 'dinov2' && type !== 'dinov2_with_registers') {
    throw new Error(`${what}: 'model_type' ${type === undefined ? 'is missing' : shown(type)}: not a DINOv2 backbone ('dinov2' or 'dinov2_with_registers')`);
  }
  const registers = type === 'dinov2_with_registers';
  if (config.hidden_act !== undefined && config.hidden_act !== 'gelu') {
    throw new Error(`${what}: 'hidden_act' ${shown(config.hidden_act)} differs from DINOv2's exact GELU`);
  }
  const out: BackboneConfig = {
    img_size: num(config, 'image_size'),
    patch_size: num(config, 'patch_size'),
    embed_dim: num(config, 'hidden_size'),
    depth: num(config, 'num_hidden_layers'),
    num_heads: num(config, 'num_attention_heads'),
    mlp_ratio: num(config, 'mlp_ratio', 4),
    qkv_bias: config.qkv_bias === undefined ? true : Boolean(config.qkv_bias),
    proj_bias: true,
    ffn_bias: true,
    ffn_layer: config.use_swiglu_ffn ? 'swiglufused' : 'mlp',
    num_register_tokens: registers ? num(config, 'num_register_tokens', 4) : 0,
    init_values: num(config, 'layerscale_value', 1),
    interpolate_antialias: registers,
    interpolate_offset: registers ? 0 : 0.1,
    // The class default was 1e-12 in early Dinov2Config versions; released configs all say 1e-6.
    layer_norm_eps: num(config, 'layer_norm_eps', 1e-6),
    in_chans: num(config, 'num_channels', 3),
  };
  validateBackboneConfig(out, what, HF_NAMES);
  return out;
}

export function backboneConfigToHf(config: BackboneConfig): Record<string, unknown> {
  if (!config.proj_bias || !config.ffn_bias) throw new Error('Hugging Face DINOv2 models always have projection and FFN biases');
  if (!(config.init_values > 0)) throw new Error('Hugging Face DINOv2 models always have LayerScale (init_values > 0)');
  const registers = config.num_register_tokens > 0;
  const modelType: HfModelType = registers ? 'dinov2_with_registers' : 'dinov2';
  const out: Record<string, unknown> = {
    architectures: [registers ? 'Dinov2WithRegistersModel' : 'Dinov2Model'],
    model_type: modelType,
    hidden_size: config.embed_dim,
    num_hidden_layers: config.depth,
    num_attention_heads: config.num_heads,
    mlp_ratio: config.mlp_ratio,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.0,
    attention_probs_dropout_prob: 0.0,
    drop_path_rate: 0.0,
    initializer_range: 0.02,
    layer_norm_eps: config.layer_norm_eps,
    image_size: config.img_size,
    patch_size: config.patch_size,
    num_channels: config.in_chans,
    qkv_bias: config.qkv_bias,
    layerscale_value: config.init_values,
    use_swiglu_ffn: config.ffn_layer !== 'mlp',
  };
  if (registers) out.num_register_tokens = config.num_register_tokens;
  else out.use_mask_token = true;
  return out;
}
