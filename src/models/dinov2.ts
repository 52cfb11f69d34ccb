/**
 * The user-facing backbone (`Dinov2.load` is attached by hub/loadModel.ts, the layer that can resolve hub names
 * and downloads): load weights, then `forwardFeatures` / `getIntermediateLayers` /
 * `forward` with the official semantics. Graphs are built per output selection and compiled once;
 * all input sizes (multiples of the patch size) and batch sizes share a session.
 */
import { LazyGraph } from '../graph/lazyGraph.js';
import { cpuThreadsOf, type RuntimeOptions } from '../graph/runtime.js';
import { Tensor } from '../core/tensor.js';
import type { AttentionKernel } from './layers/attention.js';
import { int8ProductsSaturate } from '../core/cpuFeatures.js';
import type { BackboneConfig } from './config.js';
import { backboneStateDictShapes } from './stateDictShapes.js';
import { backboneFeeds, buildBackboneGraph, INPUT_MASKS, specKey, type BackboneGraphSpec } from './visionTransformer.js';
import { int8OutlierChannels, type WeightStore } from './weightStore.js';

export interface ForwardFeaturesOutput {
  /** Final-norm CLS token [B, D]. */
  clsToken: Tensor<'float32'>;
  /** Final-norm register tokens [B, R, D] (R = 0 for models without registers). */
  regTokens: Tensor<'float32'>;
  /** Final-norm patch tokens [B, N, D], row-major over the (H/14)×(W/14) grid. */
  patchTokens: Tensor<'float32'>;
  /** Output of the last block before the final norm, all tokens [B, 1+R+N, D]. */
  prenorm: Tensor<'float32'>;
  /** Patch grid size (rows, columns). */
  grid: [number, number];
}

export interface IntermediateLayersOptions {
  /** Last `n` blocks (number) or these 0-based block indices (array). Default 1. */
  n?: number | readonly number[];
  /** Patch tokens as [B, D, h, w] instead of [B, N, D]. */
  reshape?: boolean;
  returnClassToken?: boolean;
  /** Apply the final LayerNorm to each output (default true). */
  norm?: boolean;
}

export interface IntermediateLayer {
  patchTokens: Tensor<'float32'>;
  clsToken?: Tensor<'float32'>;
}

export interface ModelOptions extends RuntimeOptions {
  /** A name for messages (e.g. the checkpoint path). */
  name?: string;
  /** Attention as one of onnxruntime's fused contrib ops (default true); false builds it from standard ONNX ops. */
  fusedAttention?: boolean;
  /** Which attention build to use, overriding fusedAttention's per-device choice (advanced; see layers/attention.ts). */
  attentionKernel?: AttentionKernel;
  /**
   * 'int8': the blocks' Linear layers run as int8 (weights per output channel, activations quantized per
   * tensor at run time — per token for fc2 —; 7-bit weights on x86 CPUs without VNNI, whose int8 products
   * would saturate). Costs a little accuracy (bench/RESULTS.md); attention products stay float32.
   */
  quantization?: 'none' | 'int8';
  /**
   * Accuracy remedies of the int8 path (advanced; both default true, bench/RESULTS.md "int8, round 2"):
   * `outlierChannels`: LayerNorm output channels whose scale |γ|+|β| is ≥ 4× the median (at most 16 per
   * layer) are multiplied in float32 beside the int8 product (LLM.int8's decomposition; costs time only
   * where a model has such channels). `perTokenFc2`: the MLP's second Linear (fc2, or SwiGLU's w3)
   * quantizes its input per token rather than per tensor. `weightLevels`: the largest weight level, 127
   * (8-bit) or 63 (7-bit, whose u8·s8 product pairs cannot saturate an int16); default from the CPU
   * (int8ProductsSaturate), e.g. to build the exact graph another machine or a page runs.
   */
  int8Options?: { outlierChannels?: boolean; perTokenFc2?: boolean; weightLevels?: 63 | 127 };
  /** Weight storage inside the graph; float16/bfloat16 round the weights (cast back to float32 at load). */
  weightStorage?: 'float32' | 'float16' | 'bfloat16';
  /** 'float16' computes the whole network in half precision (for GPUs; inputs and outputs stay float32). */
  precision?: 'float32' | 'float16';
  /** Called by dispose(), e.g. to close the checkpoint the weights are read from. */
  onDispose?: () => Promise<void>;
}

export class Dinov2 {
  private readonly graphs = new Map<string, LazyGraph>();
  private int8Outliers: Promise<Map<string, number[]>> | null = null;

  constructor(
    readonly config: BackboneConfig,
    private readonly weights: WeightStore,
    private readonly options: ModelOptions = {},
  ) {
    const levels = options.int8Options?.weightLevels;
    if (levels !== undefined && levels !== 63 && levels !== 127) throw new Error(`${this.name}: int8Options.weightLevels must be 63 or 127, got ${String(levels)}`);
    const expected = backboneStateDictShapes(config);
    for (const [key, shape] of expected) {
      const w = weights.get(key);
      if (!w) throw new Error(`${this.name}: missing weight '${key}'`);
      if (w.shape.join() !== shape.join()) {
        throw new Error(`${this.name}: weight '${key}' has shape [${w.shape.join(', ')}] but the model expects [${shape.join(', ')}]`);
      }
    }
  }

  get name(): string {
    return this.options.name ?? 'dinov2';
  }

  get embedDim(): number {
    return this.config.embed_dim;
  }

  /** Throws unless a head made for `embedDim`-wide features (`what`: 'depth', 'segmentation', …) fits this backbone. */
  checkHeadWidth(what: string, embedDim: number): void {
    if (embedDim !== this.embedDim) {
      throw new Error(`the ${what} head expects a backbone with embed_dim ${embedDim}, but ${this.name} has ${this.embedDim}`);
    }
  }

  /** onnxruntime's intra-op threads when the model runs on the CPU, 0 on a GPU (see cpuThreadsOf). */
  get cpuThreads(): number {
    return cpuThreadsOf(this.options);
  }

  get patchSize(): number {
    return this.config.patch_size;
  }

  get numRegisterTokens(): number {
    return this.config.num_register_tokens;
  }

  /**
   * Fused attention: on CPU onnxruntime's MultiHeadAttention (flash attention in MLAS; it also takes a
   * qkv projection run as int8); on GPUs the Attention op, whose WebGPU kernels were measured on an H100.
   */
  private attentionKernel(): AttentionKernel {
    if (this.options.attentionKernel) return this.options.attentionKernel;
    if (!(this.options.fusedAttention ?? true)) return 'standard';
    const device = this.options.device ?? 'cpu';
    return device === 'cpu' || this.options.quantization === 'int8' ? 'MultiHeadAttention' : 'Attention';
  }

  /** The backbone graph for one output selection, compiled on first run; one per selection. */
  private graph(spec: BackboneGraphSpec): LazyGraph {
    spec = { ...spec, attentionKernel: this.attentionKernel() };
    const key = specKey(spec);
    let graph = this.graphs.get(key);
    if (!graph) {
      const int8 = this.options.quantization === 'int8' ? (key: string) => key.startsWith('blocks.') : null;
      const scope = {
        storage: this.options.weightStorage ?? 'float32',
        compute: this.options.precision ?? 'float32',
        ...(int8 ? { int8, int8MaxLevel: this.options.int8Options?.weightLevels ?? (int8ProductsSaturate() ? 63 : 127) } : {}),
        ...(int8 && this.options.int8Options?.perTokenFc2 !== false ? { int8PerRow: (key: string) => /\.mlp\.(fc2|w3)\.weight$/.test(key) } : {}),
      } as const;
      const built = spec;
      graph = new LazyGraph(async () => {
        // Which channels stay float32 depends on the LayerNorm weights: read once, before the first build.
        const outliers = int8 && this.options.int8Options?.outlierChannels !== false ? await (this.int8Outliers ??= int8OutlierChannels(this.weights, int8).catch((e: unknown) => {
                this.int8Outliers = null;
                throw e;
              })) : undefined;
        return buildBackboneGraph(this.config, this.weights, built, this.name, outliers ? { ...scope, int8Outliers: outliers } : scope);
      }, this.options);
      this.graphs.set(key, graph);
    }
    return graph;
  }

  /** Checks the input and returns (B, H, W). */
  private checkInput(x: Tensor): [number, number, number] {
    if (x.dtype !== 'float32') throw new Error(`${this.name}: input must be float32, got ${x.dtype}`);
    if (x.rank !== 4 || x.shape[1] !== this.config.in_chans) {
      throw new Error(`${this.name}: input must have shape [batch, ${this.config.in_chans}, height, width], got [${x.shape.join(', ')}]`);
    }
    const [B, , H, W] = x.shape as [number, number, number, number];
    const p = this.config.patch_size;
    for (const [what, size] of [['height', H], ['width', W]] as const) {
      if (size % p !== 0 || size === 0) {
        const lo = Math.floor(size / p) * p;
        throw new Error(
          `${this.name}: input ${what} ${size} is not a positive multiple of the patch size ${p} ` +
            `(nearest: ${lo > 0 ? `${lo} or ` : ''}${lo + p}); resize, crop or pad the image first`,
        );
      }
    }
    if (B === 0) throw new Error(`${this.name}: empty batch`);
    return [B, H, W];
  }

  private maskFeed(masks: Tensor, B: number, N: number): Tensor {
    if (masks.shape.join() !== [B, N].join()) {
      throw new Error(`${this.name}: masks must have shape [${B}, ${N}], got [${masks.shape.join(', ')}]`);
    }
    if (masks.dtype === 'bool') return masks;
    if (masks.dtype === 'uint8') return new Tensor('bool', masks.data as Uint8Array, masks.shape);
    throw new Error(`${this.name}: masks must be bool or uint8, got ${masks.dtype}`);
  }

  /** `forward_features(x, masks)` of the official model. */
  async forwardFeatures(x: Tensor, opts: { masks?: Tensor } = {}): Promise<ForwardFeaturesOutput> {
    const [B, H, W] = this.checkInput(x);
    const p = this.config.patch_size;
    const grid: [number, number] = [H / p, W / p];
    const N = grid[0] * grid[1];
    const spec: BackboneGraphSpec = { masks: !!opts.masks, final: true, blocks: [] };
    const feeds = backboneFeeds(this.config, x);
    if (opts.masks) feeds[INPUT_MASKS] = this.maskFeed(opts.masks, B, N);
    const out = await this.graph(spec).run(feeds, ['x_norm', 'x_prenorm']);
    const normed = out['x_norm'] as Tensor<'float32'>;
    const R = this.config.num_register_tokens;
    return {
      clsToken: normed.slice(1, 0, 1).squeeze(1),
      regTokens: normed.slice(1, 1, 1 + R),
      patchTokens: normed.slice(1, 1 + R, 1 + R + N),
      prenorm: out['x_prenorm'] as Tensor<'float32'>,
      grid,
    };
  }

  /** `model(x)`: the final-norm CLS token [B, D]. */
  async forward(x: Tensor): Promise<Tensor<'float32'>> {
    this.checkInput(x);
    const out = await this.graph({ masks: false, final: true, blocks: [], clsOnly: true }).run(backboneFeeds(this.config, x));
    return out['x_norm_clstoken'] as Tensor<'float32'>;
  }

  /** The last block's attention probabilities [B, heads, T, T] (softmax(q·kᵀ/√d) of its normed input), for attention maps. */
  async lastBlockAttention(x: Tensor): Promise<Tensor<'float32'>> {
    this.checkInput(x);
    const out = await this.graph({ masks: false, final: false, blocks: [], lastAttention: true }).run(backboneFeeds(this.config, x), ['attn_probs']);
    return out['attn_probs'] as Tensor<'float32'>;
  }

  /** `get_intermediate_layers(x, n, reshape, return_class_token, norm)` of the official model. */
  async getIntermediateLayers(x: Tensor, opts: IntermediateLayersOptions = {}): Promise<IntermediateLayer[]> {
    const [B, H, W] = this.checkInput(x);
    const depth = this.config.depth;
    const n = opts.n ?? 1;
    const indices = typeof n === 'number' ? Array.from({ length: n }, (_, i) => depth - n + i) : [...n];
    if (typeof n === 'number' && (!Number.isInteger(n) || n < 1 || n > depth)) {
      throw new Error(`${this.name}: n = ${n} must be between 1 and the depth ${depth}`);
    }
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= depth) throw new Error(`${this.name}: block index ${i} is out of range (depth ${depth})`);
    }
    const wanted = [...new Set(indices)].sort((a, b) => a - b);
    const norm = opts.norm ?? true;
    const spec: BackboneGraphSpec = { masks: false, final: false, blocks: wanted, blockNorm: norm };
    const names = wanted.map((i) => (norm ? `block${i}_norm` : `block${i}`));
    const out = await this.graph(spec).run(backboneFeeds(this.config, x), names);
    const p = this.config.patch_size;
    const [h, w] = [H / p, W / p];
    const R = this.config.num_register_tokens;
    const D = this.config.embed_dim;
    // The official code returns the selected blocks in increasing order (the order of the block loop).
    return wanted.map((i) => {
      const tokens = out[norm ? `block${i}_norm` : `block${i}`] as Tensor<'float32'>;
      let patchTokens = tokens.slice(1, 1 + R, 1 + R + h * w);
      if (opts.reshape) patchTokens = patchTokens.reshape([B, h, w, D]).permute([0, 3, 1, 2]);
      const layer: IntermediateLayer = { patchTokens };
      if (opts.returnClassToken) layer.clsToken = tokens.slice(1, 0, 1).squeeze(1);
      return layer;
    });
  }

  /** Releases every compiled session. */
  async dispose(): Promise<void> {
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    for (const g of graphs) await g.dispose();
    await this.options.onDispose?.();
  }
}

