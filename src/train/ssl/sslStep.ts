/**
 * One DINOv2 training iteration as `do_train` (dinov2/train/train.py) runs it: `forward_backward` (the
 * step graph of sslMetaArch.ts), `clip_grad_norm_` per student module, `optimizer.step()` (AdamW with the
 * official parameter groups and the schedules' lr / wd / last-layer lr), then `update_teacher(momentum)`.
 *
 * All state lives in a ParamStore: student and teacher parameters, gradients, AdamW moments and step
 * counts, the DINO / iBOT centers (buffers `dino_loss.center`, `ibot_patch_loss.center`) and the
 * iteration. The step graph is compiled once per batch layout and reused; the masked-patch count may
 * change from batch to batch.
 *
 * With student drop path on (`cfg.dropPathRate` > 0) every forward_backward draws the subsets from the
 * trainer's `dropPathRng` (`planDropPath`, the official draw order) and feeds them to the graph; the
 * generator is part of the training state (`captureRngState(trainer.dropPathRng)` / assign it back).
 */
import { LazyGraph } from '../../graph/lazyGraph.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { maskedPatchIndices, masksWeight } from '../../data/collate.js';
import { Tensor } from '../../core/tensor.js';
import { AdamW } from '../optim/adamw.js';
import { GradClipper } from '../optim/clipGradNorm.js';
import { TeacherEma } from '../optim/ema.js';
import { planDropPath, subsetInputs, subsetSize, type BlockDropDecisions } from './dropPath.js';
import { Rng, type RngState } from '../../core/rng.js';
import { loadTrainState, saveTrainState, type LoadedTrainState, type TrainStateExtras } from './checkpoint.js';
import { ParamStore, type ParamInit } from '../optim/paramStore.js';
import { CROP_SETS, LOSS_TERMS, SSL_IO, buildSslStepGraph, type LossTerm } from './sslMetaArch.js';
import {
  N_GLOBAL_CROPS,
  globalPatches,
  studentCropBatches,
  studentDropRates,
  studentParamShapes,
  type SslConfig,
  type SslOptimConfig,
  type SslStepHyper,
} from './sslConfig.js';

export const DINO_CENTER = 'dino_loss.center';
export const IBOT_CENTER = 'ibot_patch_loss.center';

/** One collated batch (`collate_data_and_cast`): crops crop-major (crop 0 of every image, then crop 1, …). */
export interface SslBatch {
  /** [2·nImages, 3, S, S]. */
  globalCrops: Tensor<'float32'>;
  /** [localCropsNumber·nImages, 3, s, s] (absent when there are no local crops). */
  localCrops?: Tensor<'float32'>;
  /** [2·nImages, N] iBOT masks, 1 = masked (U8 or bool). */
  masks: Tensor<'uint8'> | Tensor<'bool'>;
  /** A name per image (same name, same crops), when the loop draws fixed views (see ImageLoopSpec.viewsPerImage). */
  keys?: readonly string[];
}

export interface SslStepResult {
  /** Each loss term as it enters the total (weights included), float32 values. */
  losses: Record<LossTerm, number>;
  /** Per-module gradient norm before clipping. */
  gradNorms: Map<string, number>;
  /** Per-module clip factor min(clip / (norm + 1e-6), 1). */
  clipScales: Map<string, number>;
  /** Teacher DINO targets [2, nImages, K] (crop order swapped, as the loss uses them). */
  teacherDinoTargets: Tensor<'float32'>;
  /** Teacher iBOT targets on the masked patches [M, K] (only with `returnIbotTargets`, and iBOT on). */
  teacherIbotTargets?: Tensor<'float32'>;
}

export interface SslTrainerOptions {
  optim: SslOptimConfig;
  runtime?: RuntimeOptions;
  /** Seed of the drop-path generator (default 0); unused when drop path is off. */
  dropPathSeed?: number;
  /**
   * Hand the teacher's iBOT targets back with each step (default false: they are [masked patches, K],
   * 80 MB a step for ViT-S/14 at batch 4 with 65,536 prototypes, and only checks read them).
   */
  returnIbotTargets?: boolean;
}

/** One step's student drop-path decisions (`planDropPath` over the student's rates and crop sets); null when off. */
export function drawDropPath(cfg: SslConfig, rng: Rng): BlockDropDecisions[] | null {
  const rates = studentDropRates(cfg);
  if (!rates.some((r) => r > 0)) return null;
  return planDropPath(rng, { rates, batchSizes: studentCropBatches(cfg), nested: true });
}

/** The step graph's drop-path inputs for a plan; checks the plan against the config's layout. */
export function dropPathFeeds(cfg: SslConfig, plan: readonly BlockDropDecisions[]): Record<string, Tensor> {
  const rates = studentDropRates(cfg);
  const batches = studentCropBatches(cfg);
  if (plan.length !== rates.length) throw new Error(`ssl step: the drop-path plan has ${plan.length} blocks, the backbone ${rates.length}`);
  const feeds: Record<string, Tensor> = {};
  plan.forEach((d, i) => {
    const rate = rates[i]!;
    for (const branch of ['attn', 'ffn'] as const) {
      const decisions = d[branch];
      if (decisions.length !== batches.length) throw new Error(`ssl step: drop-path block ${i} ${branch} has ${decisions.length} crop sets, expected ${batches.length}`);
      decisions.forEach((dec, k) => {
        const batch = batches[k]!;
        const where = `drop-path block ${i} ${branch} ${CROP_SETS[k]}`;
        if (dec.batch !== batch) throw new Error(`ssl step: ${where} is for ${dec.batch} rows, the crop set has ${batch}`);
        if (!(rate > 0)) {
          if (dec.kind !== 'none') throw new Error(`ssl step: ${where}: the block's rate is 0 but the plan drops`);
          return;
        }
        if (dec.kind !== 'subset') throw new Error(`ssl step: ${where}: the training graph takes subset decisions, got '${dec.kind}'`);
        const S = subsetSize(batch, rate);
        if (dec.indices.length !== S) throw new Error(`ssl step: ${where} keeps ${dec.indices.length} rows, rate ${rate} keeps ${S}`);
        const t = subsetInputs(dec);
        const name = (part: 'indices' | 'inverse' | 'scale') => SSL_IO.dropPath(i, branch, CROP_SETS[k]!, part);
        feeds[name('indices')] = t.indices;
        feeds[name('inverse')] = t.inverse;
        feeds[name('scale')] = t.scale;
      });
    }
  });
  return feeds;
}

/** Official optimizer defaults (`optim.*` in ssl_default_config.yaml). */
export const OFFICIAL_OPTIM: SslOptimConfig = {
  clipGrad: 3.0,
  layerwiseDecay: 0.9,
  patchEmbedLrMult: 0.2,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
};

/**
 * A ParamStore laid out for this config: every student parameter in official order, its initial value
 * from `init(key)` (zeros when it returns undefined), the teacher from `teacherInit` or a copy of the
 * student (the official start), and zero centers.
 */
export function createSslStore(
  cfg: SslConfig,
  optim: SslOptimConfig,
  init: (key: string, shape: readonly number[]) => Float32Array | undefined,
  teacherInit?: (key: string, shape: readonly number[]) => Float32Array | undefined,
): ParamStore {
  const params: ParamInit[] = [];
  for (const [name, shape] of studentParamShapes(cfg)) {
    const data = init(name, shape);
    const teacher = teacherInit?.(name, shape);
    params.push({ name, shape, ...(data ? { data } : {}), ...(teacher ? { teacher } : {}) });
  }
  const store = ParamStore.create(params, { groups: { layerwiseDecay: optim.layerwiseDecay, patchEmbedLrMult: optim.patchEmbedLrMult, depth: cfg.backbone.depth } });
  if (cfg.centering === 'centering') {
    store.setBuffer(DINO_CENTER, [1, cfg.dinoHead.outDim], new Float32Array(cfg.dinoHead.outDim));
    const Ki = (cfg.ibotHead ?? cfg.dinoHead).outDim;
    store.setBuffer(IBOT_CENTER, [1, 1, Ki], new Float32Array(Ki));
  }
  return store;
}

export class SslTrainer {
  readonly adamw: AdamW;
  readonly clipper: GradClipper;
  readonly ema: TeacherEma;
  /** Draws the student's drop-path subsets; training state (capture / restore it with checkpoints). */
  dropPathRng: Rng;
  /** The decisions of the latest forward_backward (null when drop path is off). */
  lastDropPlan: BlockDropDecisions[] | null = null;
  private readonly graph: LazyGraph;

  constructor(
    readonly cfg: SslConfig,
    readonly store: ParamStore,
    private readonly options: SslTrainerOptions,
  ) {
    const shapes = studentParamShapes(cfg);
    for (const [name, shape] of shapes) {
      const s = store.slot(name);
      if (s.shape.join() !== shape.join()) throw new Error(`ssl step: '${name}' is [${s.shape}] in the store, the config needs [${shape}]`);
    }
    if (store.slots.length !== shapes.size) throw new Error(`ssl step: the store has ${store.slots.length} parameters, the config ${shapes.size}`);
    const { optim, runtime } = options;
    this.adamw = new AdamW(store, { beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps, ...(runtime ? { runtime } : {}) });
    this.clipper = new GradClipper(store, runtime);
    this.ema = new TeacherEma(store, runtime);
    this.dropPathRng = new Rng(options.dropPathSeed ?? 0);
    // onnxruntime's memory pattern plans one block per input-shape set; for this graph it cost 2 GiB of
    // peak RSS (ViT-S/14, batch 4, 65,536 prototypes: 7.27 → 5.29 GiB without it) and no time, and the
    // masked-patch count changes the shapes from batch to batch anyway. A caller's setting wins.
    const stepRuntime: RuntimeOptions = { ...runtime, sessionOptions: { enableMemPattern: false, ...runtime?.sessionOptions } };
    this.graph = new LazyGraph(() => buildSslStepGraph(cfg, shapes), stepRuntime);
  }

  /**
   * Writes everything the next step depends on — parameters, teacher, AdamW moments and steps, centers,
   * and the drop-path generator — so that `SslTrainer.resume` continues bit for bit. `extras` is the
   * caller's own state (config, data pipeline), read back by `loadTrainState`.
   */
  async save(dir: string, extras: Omit<TrainStateExtras, 'rng'> = {}): Promise<void> {
    await saveTrainState(dir, this.store, { ...extras, rng: this.dropPathRng.getState() });
  }

  /** A trainer continuing a run saved by `save` (same config and options). */
  static async resume(dir: string, cfg: SslConfig, options: SslTrainerOptions): Promise<SslTrainer> {
    return SslTrainer.fromState(await loadTrainState(dir), cfg, options);
  }

  /** A trainer continuing from a loaded state (e.g. after checking the caller's extras in it). */
  static fromState(state: LoadedTrainState, cfg: SslConfig, options: SslTrainerOptions): SslTrainer {
    const trainer = new SslTrainer(cfg, state.store, options);
    if (state.rng) trainer.dropPathRng = Rng.fromState(state.rng as RngState);
    return trainer;
  }

  /**
   * The step graph's inputs for a batch (parameters, teacher, crops, masks, teacher temperature, centers),
   * without drop-path decisions; some may be undeclared by the graph (forwardBackward drops those).
   */
  feeds(batch: SslBatch, teacherTemp: number): Record<string, Tensor> {
    const { cfg, store } = this;
    const rowsG = N_GLOBAL_CROPS * cfg.nImages;
    const N = globalPatches(cfg);
    if (batch.masks.shape.join() !== `${rowsG},${N}`) throw new Error(`ssl step: masks are [${batch.masks.shape}], expected [${rowsG}, ${N}]`);
    const m = batch.masks.data as Uint8Array;
    const indices = BigInt64Array.from(maskedPatchIndices(m), (i) => BigInt(i));
    const weights = masksWeight(m, rowsG, N);
    const feeds: Record<string, Tensor> = {
      [SSL_IO.globalCrops]: batch.globalCrops,
      [SSL_IO.masks]: new Tensor('bool', m, [rowsG, N]),
      [SSL_IO.maskIndices]: new Tensor('int64', indices, [indices.length]),
      [SSL_IO.masksWeight]: Tensor.float32(weights, [weights.length]),
      [SSL_IO.teacherTemp]: Tensor.float32(Float32Array.of(teacherTemp), []),
    };
    if (cfg.localCropsNumber > 0) {
      if (!batch.localCrops) throw new Error(`ssl step: the config has ${cfg.localCropsNumber} local crops per image but the batch has none`);
      feeds[SSL_IO.localCrops] = batch.localCrops;
    }
    for (const s of store.slots) {
      feeds[SSL_IO.student(s.name)] = Tensor.float32(store.param(s.name), s.shape);
      feeds[SSL_IO.teacher(s.name)] = Tensor.float32(store.teacherParam(s.name), s.shape);
    }
    if (cfg.centering === 'centering') {
      const d = store.buffer(DINO_CENTER);
      feeds[SSL_IO.dinoCenter] = Tensor.float32(d.data, d.shape);
      if (cfg.ibotLossWeight > 0) {
        const i = store.buffer(IBOT_CENTER);
        feeds[SSL_IO.ibotCenter] = Tensor.float32(i.data, i.shape);
      }
    }
    return feeds;
  }

  /**
   * forward_backward only: losses, targets and (unclipped) gradients into `store.grad`, parameters
   * untouched. Centers are not advanced either; `step` does all of it. `dropPlan` replaces this step's
   * draw from `dropPathRng` (which is then left untouched), e.g. to replay fixed decisions.
   */
  async forwardBackward(
    batch: SslBatch,
    teacherTemp: number,
    dropPlan?: readonly BlockDropDecisions[],
  ): Promise<{ out: Record<string, Tensor>; losses: Record<LossTerm, number> }> {
    const feeds = this.feeds(batch, teacherTemp);
    const plan = dropPlan ? [...dropPlan] : drawDropPath(this.cfg, this.dropPathRng);
    if (plan) Object.assign(feeds, dropPathFeeds(this.cfg, plan));
    this.lastDropPlan = plan;
    // Graphs only take the inputs they declare (e.g. no ibot center with Sinkhorn-Knopp).
    const declared = new Set(await this.graph.inputNames());
    for (const k of Object.keys(feeds)) if (!declared.has(k)) delete feeds[k];
    const names = (await this.graph.outputNames()).filter((n) => this.options.returnIbotTargets || n !== SSL_IO.teacherIbotTargets);
    const out = await this.graph.run(feeds, names, this.store.gradTargets(SSL_IO.grad));
    const losses = {} as Record<LossTerm, number>;
    for (const t of LOSS_TERMS) losses[t] = (out[SSL_IO.loss(t)]!.data as Float32Array)[0]!;
    return { out, losses };
  }

  /** One full iteration with the schedules' values `hyper`; advances `store.iteration`. */
  async step(batch: SslBatch, hyper: SslStepHyper, dropPlan?: readonly BlockDropDecisions[]): Promise<SslStepResult> {
    const { store, cfg } = this;
    const { out, losses } = await this.forwardBackward(batch, hyper.teacherTemp, dropPlan);
    const clip = await this.clipper.compute(this.options.optim.clipGrad);
    await this.adamw.step({ lr: hyper.lr, wd: hyper.wd, lastLayerLr: hyper.lastLayerLr }, clip.scales);
    await this.ema.update(hyper.teacherMomentum);
    if (cfg.centering === 'centering') {
      const d = out[SSL_IO.dinoCenterOut]!;
      store.setBuffer(DINO_CENTER, d.shape, d.data as Float32Array);
      const i = out[SSL_IO.ibotCenterOut];
      if (i) store.setBuffer(IBOT_CENTER, i.shape, i.data as Float32Array);
    }
    store.iteration++;
    const ibot = out[SSL_IO.teacherIbotTargets];
    return {
      losses,
      gradNorms: clip.totalNorms,
      clipScales: clip.scales,
      teacherDinoTargets: out[SSL_IO.teacherDinoTargets] as Tensor<'float32'>,
      ...(ibot ? { teacherIbotTargets: ibot as Tensor<'float32'> } : {}),
    };
  }

  async dispose(): Promise<void> {
    await this.graph.dispose();
    await this.adamw.dispose();
    await this.clipper.dispose();
    await this.ema.dispose();
  }
}
