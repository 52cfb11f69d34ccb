/**
 * DINOv2 self-supervised training on a list of image files: what `do_train` (dinov2/train/train.py) does
 * around `forward_backward`, for one process. An infinite shuffled sampler draws `nImages` images per
 * iteration, each decoded and augmented into 2 global + n local crops (DataAugmentationDINO), collated
 * crop-major with iBOT masks (`collate_data_and_cast`); the schedules give each iteration's lr, wd,
 * momentum, teacher temperature and last-layer lr. The next batch is decoded and augmented on worker
 * threads (AugmentPool, each image with its own seed) while the step runs.
 *
 * The run directory holds `state/` (everything to continue bit for bit, including the sampler and its
 * generator: a resumed run sees the same batches as an uninterrupted one), `log.jsonl` (one line of
 * losses and schedule values per iteration) and `teacher_backbone.safetensors` — the teacher's backbone
 * with the official keys, the network the official evaluations use, loadable wherever a checkpoint is.
 */
import { appendFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { ArgumentError } from '../../core/errors.js';
import { ARCH_METADATA_KEY } from '../../models/load.js';
import type { BackboneConfig } from '../../models/config.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { MultiCropOptions } from '../../data/augmentations.js';
import { collateMasks } from '../../data/collate.js';
import { AugmentPool, defaultAugmentWorkers } from '../../data/augmentPool.js';
import { maskingGeneratorForCrops } from '../../data/maskingGenerator.js';
import { batchTensors } from '../../data/transforms.js';
import { checkDevice, type RuntimeOptions } from '../../graph/runtime.js';
import { Tensor } from '../../core/tensor.js';
import { Rng, type RngState } from '../../core/rng.js';
import { writeSafetensors } from '../../formats/safetensorsWriter.js';
import { cleanTrainStateDir, hasTrainState, loadTrainState, type TrainStateExtras } from './checkpoint.js';
import { createSslStore, OFFICIAL_OPTIM, SslTrainer, type SslBatch } from './sslStep.js';
import type { ParamStore } from '../optim/paramStore.js';
import { checkSslConfig, type SslConfig, type SslStepHyper } from './sslConfig.js';
import type { ParamInitializer } from './sslInit.js';
import type { LossTerm } from './sslMetaArch.js';
import { buildSchedules, type ScheduleConfig } from '../optim/schedules.js';

export interface SslImageTrainingOptions {
  images: readonly string[];
  /** The run directory (created; holds state/, log.jsonl, teacher_backbone.safetensors). */
  outDir: string;
  cfg: SslConfig;
  /** The schedules' settings; `lr` is used as given (scale it for the batch size before, as the official code does). */
  schedule: ScheduleConfig;
  /** Initial values of a new run (required then, unless `initialStore`; unused when resuming). */
  init?: ParamInitializer;
  /**
   * A new run continuing from this state instead (e.g. an official checkpoint read by
   * `importOfficialCheckpoint`): its parameters, teacher, moments and iteration; fresh sampler.
   */
  initialStore?: ParamStore;
  /** Stop after this iteration count (default: the schedule's epochs × epochLength). */
  iterations?: number;
  /** Save state and the teacher backbone every this many iterations (default: only at the end). */
  saveEvery?: number;
  /** Continue the run in `outDir` (its config must match). */
  resume?: boolean;
  /** Replace a run already in `outDir` (without `resume` or `overwrite`, one is refused). */
  overwrite?: boolean;
  seed?: number;
  augmentation?: Pick<MultiCropOptions, 'globalCropsScale' | 'localCropsScale' | 'blur' | 'blurSigma'>;
  /** Worker threads decoding and augmenting images (default: the cores beside this thread, 1–4; 0: this thread). */
  augmentWorkers?: number;
  /**
   * Bytes of decoded images kept for the next epochs (default 256 MiB; 0: decode every time). Small images
   * cost more to decode than to augment: a 28-px data set of 5,000 files fits in 12 MiB.
   */
  decodeCacheBytes?: number;
  runtime?: RuntimeOptions;
  onIteration?: (e: IterationEvent) => void;
  /**
   * Evaluates the teacher backbone during the run (e.g. the k-NN protocol, composed by the caller: the
   * evaluations sit above training): after every `every` iterations and after the last, `run` gets the
   * teacher's backbone (official keys) and returns named numbers, which go into that iteration's log line
   * (`"eval": {...}`) and its IterationEvent.
   */
  evaluate?: { every: number; run: (backbone: BackboneWeights, iteration: number) => Promise<Record<string, number>>; /** Also before the first iteration of a new run (default true). */ atStart?: boolean };
  /** Each evaluation's numbers (also at iteration 0, the initialisation, for a new run). */
  onEvaluation?: (iteration: number, results: Record<string, number>) => void;
  /** An image that could not be decoded (it is left out of the sampler from then on). */
  onSkip?: (path: string, reason: string) => void;
}

export interface IterationEvent {
  iteration: number;
  total: number;
  losses: Record<LossTerm, number>;
  hyper: SslStepHyper;
  seconds: number;
  /** The evaluation after this iteration, when one ran. */
  eval?: Record<string, number>;
}

/** Backbone parameters by official key (`blocks.0.attn.qkv.weight`), as the teacher holds them now. */
export type BackboneWeights = Map<string, { shape: readonly number[]; data: Float32Array }>;

/** The teacher's `backbone.*` parameters under the official backbone keys (views into the store). */
export function teacherBackboneWeights(store: ParamStore): BackboneWeights {
  const out: BackboneWeights = new Map();
  for (const s of store.slots) if (s.name.startsWith('backbone.')) out.set(s.name.slice('backbone.'.length), { shape: s.shape, data: store.teacherParam(s.name) });
  return out;
}

export interface SslImageTrainingResult {
  iterations: number;
  teacherBackbone: string;
  stateDir: string;
  skipped: string[];
}

/** The seed of view `view` of an image: fixed, so the view's crops are the same every time it is drawn. */
function viewSeed(path: string, view: number): number {
  return createHash('sha256').update(`${path}\0${view}`).digest().readUInt32LE(0);
}

/** The sampler: a seeded permutation per pass over the files, consumed in order (torch's InfiniteSampler with shuffle). */
export interface SamplerState {
  rng: RngState;
  order: number[];
  cursor: number;
  skipped: string[];
}

const STATE_DIR = 'state';
const LOG_FILE = 'log.jsonl';
const TEACHER_FILE = 'teacher_backbone.safetensors';

export async function trainSslOnImages(o: SslImageTrainingOptions): Promise<SslImageTrainingResult> {
  checkSslConfig(o.cfg);
  return runImageLoop(o, {
    start: (stateDir, runConfig) => startRun(o, stateDir, runConfig),
    backboneFile: TEACHER_FILE,
    backboneSource: 'dinov2-ts ssl training (teacher backbone)',
  });
}

/** What the image loop needs of a trainer (SslTrainer, DistillTrainer). */
export interface ImageLoopTrainer {
  readonly store: ParamStore;
  step(batch: SslBatch, hyper: SslStepHyper): Promise<{ losses: Record<LossTerm, number> }>;
  save(dir: string, extras: TrainStateExtras): Promise<void>;
  dispose(): Promise<void>;
}

/** How a kind of run plugs into the image loop. */
export interface ImageLoopSpec {
  /** The trainer and sampler of a new run, or of the saved one after checking `runConfig` against it. */
  start: (stateDir: string, runConfig: unknown) => Promise<{ trainer: ImageLoopTrainer; sampler: SamplerState }>;
  /** The file the store's teacher-slot backbone is written to (official keys) at every save. */
  backboneFile: string;
  backboneSource: string;
  /** More of the run's identity a resume must match (e.g. the frozen teacher). */
  runConfigExtra?: unknown;
  /**
   * Crops per image drawn from this many fixed views (seeds) instead of fresh ones, and each image of a
   * batch named `path#view` (SslBatch.keys), so that outputs of a frozen network can be cached (default:
   * fresh crops every time, no keys).
   */
  viewsPerImage?: number;
}

/**
 * The loop shared by SSL training and distillation: sampler, augmentation on workers, schedules, logging,
 * evaluation, checkpoints and resume; `spec` supplies the trainer.
 */
export async function runImageLoop(o: SslImageTrainingOptions, spec: ImageLoopSpec): Promise<SslImageTrainingResult> {
  const { cfg } = o;
  const views = spec.viewsPerImage;
  if (views !== undefined && (!Number.isSafeInteger(views) || views < 1)) throw new Error(`training: viewsPerImage must be a positive integer, got ${views}`);
  if (o.images.length < cfg.nImages) throw new Error(`ssl training: ${o.images.length} images for a batch of ${cfg.nImages}; give at least as many images as the batch size`);
  const schedules = buildSchedules(o.schedule);
  const total = o.iterations ?? o.schedule.epochs * o.schedule.epochLength;
  if (!Number.isSafeInteger(total) || total < 1) throw new Error(`ssl training: iterations must be a positive integer, got ${total}`);
  const saveEvery = o.saveEvery ?? total;
  const evalEvery = o.evaluate?.every;
  if (evalEvery !== undefined && (!Number.isSafeInteger(evalEvery) || evalEvery < 1)) throw new Error(`ssl training: evaluate.every must be a positive integer, got ${evalEvery}`);
  if (!Number.isSafeInteger(saveEvery) || saveEvery < 1) throw new Error(`ssl training: saveEvery must be a positive integer, got ${saveEvery}`);
  // A device without an adapter or driver fails here, before the run folder, the workers or any image.
  await checkDevice(o.runtime?.device);

  const cropOptions: MultiCropOptions = {
    ...o.augmentation,
    globalCropsSize: cfg.globalCropsSize,
    localCropsSize: cfg.localCropsSize,
    localCropsNumber: cfg.localCropsNumber,
  };
  const maskGenerator = maskingGeneratorForCrops(cfg.globalCropsSize, cfg.backbone.patch_size);
  const stateDir = join(o.outDir, STATE_DIR);
  // What a resumed run must share with the saved one: the sampler's indices mean nothing for other files.
  const runConfig = {
    cfg,
    schedule: o.schedule,
    augmentation: o.augmentation ?? {},
    images: { count: o.images.length, sha256: createHash('sha256').update(o.images.join('\0')).digest('hex') },
    ...(spec.runConfigExtra !== undefined ? { run: spec.runConfigExtra } : {}),
    ...(views !== undefined ? { viewsPerImage: views } : {}),
  };

  // Bad crop options fail here, on this thread, before any worker starts or any state is read.
  const pool = new AugmentPool(cropOptions, o.augmentWorkers ?? defaultAugmentWorkers(), o.decodeCacheBytes);
  let started: { trainer: ImageLoopTrainer; sampler: SamplerState };
  try {
    started = await spec.start(stateDir, runConfig);
  } catch (e) {
    await pool.close();
    throw e;
  }
  const { trainer, sampler } = started;

  const skipped = new Set(sampler.skipped);
  const dataRng = Rng.fromState(sampler.rng);
  let { order, cursor } = sampler;

  const nextPath = (): string => {
    for (let guard = 0; guard <= 2 * o.images.length; guard++) {
      if (cursor >= order.length) {
        order = dataRng.shuffle(o.images.map((_, i) => i));
        cursor = 0;
      }
      const path = o.images[order[cursor++]!]!;
      if (!skipped.has(path)) return path;
    }
    throw new Error(`ssl training: none of the ${o.images.length} images could be decoded`);
  };
  const snapshot = (): SamplerState => ({ rng: dataRng.getState(), order: [...order], cursor, skipped: [...skipped] });

  const prepare = async (): Promise<SslBatch> => {
    const globals: Tensor<'float32'>[][] = [[], []];
    const locals: Tensor<'float32'>[][] = Array.from({ length: cfg.localCropsNumber }, () => []);
    const keys: string[] = [];
    while (globals[0]!.length < cfg.nImages) {
      // Paths and per-image seeds are drawn here, in order, so the batch does not depend on the workers;
      // an unreadable file is replaced in the next round.
      const jobs = Array.from({ length: cfg.nImages - globals[0]!.length }, () => {
        const path = nextPath();
        if (views === undefined) return { path, seed: dataRng.getrandbits(32) };
        const view = dataRng.int(0, views);
        return { path, seed: viewSeed(path, view), key: `${path}#${view}` };
      });
      const outcomes = await pool.run(jobs);
      outcomes.forEach((outcome, i) => {
        if (!outcome.ok) {
          skipped.add(jobs[i]!.path);
          o.onSkip?.(jobs[i]!.path, outcome.reason);
          return;
        }
        const crops = pool.tensors(outcome);
        const key = (jobs[i] as { key?: string }).key;
        if (key !== undefined) keys.push(key);
        crops.globalCrops.forEach((c, k) => globals[k]!.push(c));
        crops.localCrops.forEach((c, k) => locals[k]!.push(c));
      });
    }
    const m = collateMasks({ batchSize: 2 * cfg.nImages, maskGenerator, rng: dataRng });
    return {
      // Crop-major, as collate_data_and_cast stacks them: crop 0 of every image, then crop 1, …
      globalCrops: batchTensors(globals.flat()),
      masks: new Tensor('uint8', m.collatedMasks, [m.batchSize, m.nTokens]),
      ...(cfg.localCropsNumber > 0 ? { localCrops: batchTensors(locals.flat()) } : {}),
      ...(views !== undefined ? { keys } : {}),
    };
  };

  const save = async (next: SamplerState): Promise<void> => {
    await trainer.save(stateDir, { config: runConfig, data: next });
    await writeTeacherBackbone(trainer, join(o.outDir, spec.backboneFile), cfg.backbone, spec.backboneSource);
  };

  if (o.evaluate && (o.evaluate.atStart ?? true) && trainer.store.iteration === 0) {
    // The initialisation's numbers, as line `iteration: -1` (kept by a resume: it precedes every save).
    const evaluation = await o.evaluate.run(teacherBackboneWeights(trainer.store), 0).catch(async (e: unknown) => {
      await pool.close();
      await trainer.dispose();
      throw e;
    });
    await appendFile(join(o.outDir, LOG_FILE), JSON.stringify({ iteration: -1, eval: evaluation }) + '\n');
    o.onEvaluation?.(0, evaluation);
  }
  let pending = trainer.store.iteration < total ? prepare() : null;
  try {
    while (pending) {
      const batch = await pending;
      const it = trainer.store.iteration;
      const hyper: SslStepHyper = {
        lr: schedules.lr.at(it),
        wd: schedules.wd.at(it),
        lastLayerLr: schedules.lastLayerLr.at(it),
        teacherTemp: schedules.teacherTemp.at(it),
        teacherMomentum: schedules.momentum.at(it),
      };
      const t0 = performance.now();
      const done = it + 1;
      // The next batch is decoded and augmented by the pool's workers while onnxruntime runs this step; a
      // checkpoint after this step records the sampler as it was before that batch, so a resumed run
      // prepares the same batch again.
      const beforeNext = snapshot();
      pending = done < total ? prepare() : null;
      pending?.catch(() => undefined); // awaited next iteration; not an unhandled rejection meanwhile
      const step = await trainer.step(batch, hyper);
      const seconds = (performance.now() - t0) / 1000;
      for (const [term, v] of Object.entries(step.losses)) {
        if (!Number.isFinite(v)) {
          // The official Sinkhorn-Knopp has no max subtraction: at low teacher temperatures exp(logit / temp) overflows.
          const hint = cfg.centering === 'sinkhorn_knopp' ? ` (with centering sinkhorn_knopp, as in the official code, teacher logits / temperature ${hyper.teacherTemp} above ~88 overflow float32: centering sinkhorn_knopp_stable gives the same targets without it)` : '';
          throw new Error(`ssl training: loss '${term}' is ${v} at iteration ${it}${hint}; state of the last save is in ${stateDir}`);
        }
      }
      const evaluation = o.evaluate && (done % o.evaluate.every === 0 || done === total) ? await o.evaluate.run(teacherBackboneWeights(trainer.store), done) : undefined;
      await appendFile(join(o.outDir, LOG_FILE), JSON.stringify({ iteration: it, ...step.losses, ...hyper, seconds: +seconds.toFixed(3), ...(evaluation ? { eval: evaluation } : {}) }) + '\n');
      o.onIteration?.({ iteration: done, total, losses: step.losses, hyper, seconds, ...(evaluation ? { eval: evaluation } : {}) });
      if (evaluation) o.onEvaluation?.(done, evaluation);
      if (done % saveEvery === 0 || done === total) await save(beforeNext);
    }
  } finally {
    // A batch still being prepared after a failed step finishes first, so nothing is logged after the caller stopped.
    await pending?.catch(() => undefined);
    await pool.close();
    await trainer.dispose();
  }
  return { iterations: trainer.store.iteration, teacherBackbone: join(o.outDir, spec.backboneFile), stateDir, skipped: [...skipped] };
}

/** The trainer and sampler of a new run, or of the saved one in `stateDir` after checking it is the same run. */
async function startRun(o: SslImageTrainingOptions, stateDir: string, runConfig: unknown): Promise<{ trainer: SslTrainer; sampler: SamplerState }> {
  await mkdir(o.outDir, { recursive: true });
  const trainerOptions = { optim: OFFICIAL_OPTIM, ...(o.runtime ? { runtime: o.runtime } : {}) };
  if (o.resume) {
    // What a save killed midway left (a .partial-* folder, a generation not yet current) goes first.
    await cleanTrainStateDir(stateDir);
    if (!(await hasTrainState(stateDir))) throw new Error(`${stateDir}: nothing to resume (no complete save)`);
    const saved = await loadTrainState(stateDir);
    // Checked before the trainer is built, whose own shape checks would otherwise speak first.
    if (JSON.stringify(saved.config) !== JSON.stringify(runConfig)) {
      const differ = differingSettings(saved.config, runConfig);
      const shown = differ.slice(0, 4).map((d) => `${d.path}: saved ${d.saved}, now ${d.now}`).join('; ');
      throw new Error(`${stateDir}: the saved run has another configuration — ${shown}${differ.length > 4 ? `; and ${differ.length - 4} more` : ''}; resume with the same settings and images`);
    }
    const trainer = SslTrainer.fromState(saved, o.cfg, trainerOptions);
    // Lines logged after the save (a run stopped between saves) are dropped: they are computed again.
    await keepLogBefore(join(o.outDir, LOG_FILE), trainer.store.iteration);
    return { trainer, sampler: saved.data as SamplerState };
  }
  if (o.initialStore) {
    return { trainer: new SslTrainer(o.cfg, o.initialStore, trainerOptions), sampler: { rng: new Rng(o.seed ?? 0).getState(), order: [], cursor: 0, skipped: [] } };
  }
  if (!o.init) throw new Error('ssl training: a new run needs `init` (initial values)');
  const files = (await Promise.all([join(o.outDir, LOG_FILE), join(o.outDir, TEACHER_FILE)].map((f) => stat(f).then(() => f, () => null)))).filter((f) => f !== null);
  const existing = [...((await hasTrainState(stateDir)) ? [stateDir] : []), ...files];
  if (existing.length > 0) {
    if (!o.overwrite) throw new ArgumentError(['resume', 'overwrite'], `${o.outDir} already holds a training run (${existing.join(', ')}); continue it with resume, or replace it with overwrite`);
    // The old run goes only when the new one starts: its state and log would otherwise mix with the new ones.
    await rm(stateDir, { recursive: true, force: true });
    await rm(join(o.outDir, LOG_FILE), { force: true });
    await rm(join(o.outDir, TEACHER_FILE), { force: true });
  }
  return {
    trainer: new SslTrainer(o.cfg, createSslStore(o.cfg, OFFICIAL_OPTIM, o.init), trainerOptions),
    sampler: { rng: new Rng(o.seed ?? 0).getState(), order: [], cursor: 0, skipped: [] },
  };
}

async function keepLogBefore(path: string, iteration: number): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const kept = text.split('\n').filter((l) => {
    // A line cut short by a stop during its write does not parse: it goes with the lines after the save.
    try {
      return (JSON.parse(l) as { iteration: number }).iteration < iteration;
    } catch {
      return false;
    }
  });
  await writeFile(path, kept.map((l) => `${l}\n`).join(''));
}

/** The teacher's `backbone.*` parameters under the official backbone keys. */
export async function writeTeacherBackbone(trainer: { store: ParamStore }, path: string, backbone: BackboneConfig, source = 'dinov2-ts ssl training (teacher backbone)'): Promise<void> {
  const { store } = trainer;
  const items = store.slots
    .filter((s) => s.name.startsWith('backbone.'))
    .map((s) => ({ key: s.name.slice('backbone.'.length), dtype: 'F32' as const, shape: s.shape, data: () => store.teacherParam(s.name) }));
  await writeSafetensors(path, items, { format: 'pt', source, iteration: String(store.iteration), [ARCH_METADATA_KEY]: JSON.stringify(backbone) });
}

/** The leaves where two run configurations differ, as `cfg.backbone.num_heads`-style paths with both values. */
export function differingSettings(saved: unknown, now: unknown, path = ''): { path: string; saved: string; now: string }[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (isObj(saved) && isObj(now) && Array.isArray(saved) === Array.isArray(now)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
    return keys.flatMap((k) => differingSettings(saved[k], now[k], path ? `${path}.${k}` : k));
  }
  if (JSON.stringify(saved) === JSON.stringify(now)) return [];
  const show = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v));
  return [{ path: path || '(config)', saved: show(saved), now: show(now) }];
}
