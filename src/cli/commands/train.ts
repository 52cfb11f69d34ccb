/**
 * `dinov2 train`: DINOv2 self-supervised training (DINO + iBOT + KoLeo, EMA teacher, multi-crop) on a
 * folder of images — from a released backbone (adapting it to one's own images) or from scratch. The
 * defaults are the official recipe (ssl_default_config.yaml) except two: the student's drop path is 0.1
 * (0.3 officially, for training from scratch), and the schedule's length, which a small data set sets
 * with --epochs / --epoch-length / --iterations.
 */
import { addImageLoopOptions, augmentationFromCli, iterationLogger, loaderFromCli, scheduleOverridesFromCli, type AugmentationCliOptions, type ScheduleCliOptions } from '../imageLoopOptions.js';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { trainingKnn, type TrainingKnn } from '../../apps/trainingKnn.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { DinoCollapseWatch } from '../../train/ssl/collapse.js';
import type { Device } from '../../graph/runtime.js';
import { expandInputs } from '../../data/inputs.js';
import { hubConfig, HUB_MODELS, isHubModelName, makeConfig, type BackboneConfig, type HubModelName } from '../../models/config.js';
import { detectConfig } from '../../models/load.js';
import { resolveCheckpoint } from '../../hub/loadModel.js';
import { officialSslInit, pretrainedBackboneInit, type ParamInitializer } from '../../train/ssl/sslInit.js';
import { trainSslOnImages, type SslImageTrainingResult } from '../../train/ssl/sslImageLoop.js';
import { CENTERINGS, type Centering, type SslConfig } from '../../train/ssl/sslConfig.js';
import { exportOfficialCheckpoint, importOfficialCheckpoint, officialConfigYaml } from '../../train/ssl/officialCheckpoint.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadTrainState } from '../../train/ssl/checkpoint.js';
import { OFFICIAL_OPTIM } from '../../train/ssl/sslStep.js';
import { buildSchedules, fitScheduleToIterations, officialScheduleConfig, scheduleSummary, type ScheduleSummary } from '../../train/optim/schedules.js';
import { openWeights } from '../../formats/open.js';
import { createProgressBar } from '../progressBar.js';
import { numberOption } from '../inputs.js';
import { addArchitectureOptions, addRuntimeOptions, architectureFromCli, checkDeviceFromCli, runtimeFromCli } from '../modelOptions.js';

interface TrainCliOptions extends ScheduleCliOptions, AugmentationCliOptions {
  out: string;
  model?: string;
  arch: string;
  offline?: boolean;
  batch: string;
  globalSize: string;
  localSize: string;
  localCrops: string;
  prototypes: string;
  headHidden: string;
  headBottleneck: string;
  centering: string;
  dropPath: string;
  lr: string;
  epochs: string;
  epochLength: string;
  warmupEpochs: string;
  iterations?: string;
  stopAfter?: string;
  overwrite?: boolean;
  numHeads?: number;
  interpolateOffset?: number;
  interpolateAntialias?: boolean;
  saveEvery?: string;
  seed: string;
  resume?: boolean;
  exportOfficial?: string;
  fromOfficial?: string;
  device: Device;
  threads?: number;
  lowMemory?: boolean;
  workers?: number;
  decodeCache: number;
  quiet?: boolean;
  koleo: string;
  evalEvery?: string;
  evalTrain?: string;
  evalVal?: string;
  evalSize?: string;
  evalK?: string;
}

/** A hub architecture name, or a JSON file of backbone settings (official names: embed_dim, depth, patch_size, …). */
export async function architecture(arch: string): Promise<{ backbone: BackboneConfig; name: string }> {
  if (isHubModelName(arch)) return { backbone: { ...hubConfig(arch), init_values: 1e-5 }, name: arch };
  if (!arch.endsWith('.json')) throw new Error(`--arch '${arch}' is not a hub architecture (${HUB_MODELS.join(', ')}) or a .json config file`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(arch, 'utf8'));
  } catch (e) {
    throw new Error(`--arch ${arch}: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`--arch ${arch}: expected a JSON object of backbone settings`);
  try {
    return { backbone: makeConfig({ init_values: 1e-5, ...(json as Record<string, unknown>) }), name: arch };
  } catch (e) {
    throw new Error(`--arch ${arch}: ${(e as Error).message}`);
  }
}

/** The k-NN evaluation `--eval-every` asks for, or undefined; checks the three flags go together. */
export interface EvalCliOptions {
  evalEvery?: string;
  evalTrain?: string;
  evalVal?: string;
  evalSize?: string;
  evalK?: string;
}

/** The checked k-NN flags (no file is read): undefined when --eval-every is not given. */
export function evalFlags(opts: EvalCliOptions): { every: number; size?: number; ks: number[] } | undefined {
  const given = [opts.evalEvery, opts.evalTrain, opts.evalVal].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new Error('--eval-every, --eval-train and --eval-val go together');
  const every = numberOption('--eval-every', opts.evalEvery!, { integer: true, min: 1 });
  const ks = (opts.evalK ?? '10,20').split(',').map((v) => Number(v.trim()));
  if (ks.some((k) => !Number.isInteger(k) || k < 1)) throw new Error(`--eval-k ${opts.evalK}: expected positive integers separated by commas`);
  return { every, ks, ...(opts.evalSize !== undefined ? { size: numberOption('--eval-size', opts.evalSize, { integer: true, min: 1 }) } : {}) };
}

/** The k-NN evaluation `--eval-every` asks for (its labelled sets decoded once), or undefined. */
export async function evalFromCli(opts: EvalCliOptions, defaultSize: number, runtime: RuntimeOptions): Promise<{ every: number; knn: TrainingKnn } | undefined> {
  const f = evalFlags(opts);
  if (!f) return undefined;
  return { every: f.every, knn: await trainingKnn({ train: opts.evalTrain!, val: opts.evalVal!, size: f.size ?? defaultSize, ks: f.ks, runtime }) };
}

/** `k10 97.1 %  k20 96.8 %` */
export function formatKnn(e: Record<string, number>): string {
  return Object.entries(e)
    .map(([k, v]) => `${k.replace('knn_top1_', '')} ${v.toFixed(2)} %`)
    .join('  ');
}

/**
 * The architecture, and (for a new run) the initial values: a released backbone (hub name or checkpoint)
 * or the official initialisation. A resumed run needs the architecture only: a hub name gives it without
 * a download, a checkpoint from its header.
 */
async function initialModel(opts: TrainCliOptions, seed: number, resume: boolean): Promise<{ backbone: BackboneConfig; init?: ParamInitializer; from: string }> {
  if (opts.model === undefined) {
    const { backbone, name } = await architecture(opts.arch);
    return { backbone, ...(resume ? {} : { init: officialSslInit(backbone, seed) }), from: `${name} architecture, official initialisation` };
  }
  if (resume && isHubModelName(opts.model)) return { backbone: { ...hubConfig(opts.model), ...architectureFromCli(opts) }, from: opts.model };
  const { path, hubName } = await resolveCheckpoint(opts.model, opts.offline !== undefined ? { offline: opts.offline } : {});
  const source = await openWeights(path);
  try {
    const backbone = hubName ? { ...hubConfig(hubName as HubModelName), ...architectureFromCli(opts) } : detectConfig(source, architectureFromCli(opts));
    if (resume) return { backbone, from: path };
    return { backbone, init: await pretrainedBackboneInit(source, backbone, officialSslInit(backbone, seed)), from: path };
  } finally {
    await source.close();
  }
}

export async function runTrain(inputs: readonly string[], opts: TrainCliOptions, log: (line: string) => void = (l) => console.error(l)): Promise<SslImageTrainingResult & { official?: string }> {
  if (opts.fromOfficial && opts.resume) throw new Error('--from-official starts a new run from an official checkpoint; --resume continues one of ours: give one of them');
  const batch = numberOption('--batch', opts.batch, { integer: true, min: 1 });
  const globalSize = numberOption('--global-size', opts.globalSize, { integer: true, min: 1 });
  const localSize = numberOption('--local-size', opts.localSize, { integer: true, min: 1 });
  const localCrops = numberOption('--local-crops', opts.localCrops, { integer: true, min: 0 });
  const prototypes = numberOption('--prototypes', opts.prototypes, { integer: true, min: 1 });
  const headHidden = numberOption('--head-hidden', opts.headHidden, { integer: true, min: 1 });
  const headBottleneck = numberOption('--head-bottleneck', opts.headBottleneck, { integer: true, min: 1 });
  const dropPath = numberOption('--drop-path', opts.dropPath);
  if (dropPath >= 1) throw new Error(`--drop-path must be below 1, got ${dropPath}`);
  const baseLr = numberOption('--lr', opts.lr);
  const epochs = numberOption('--epochs', opts.epochs, { min: 0 });
  const epochLength = numberOption('--epoch-length', opts.epochLength, { integer: true, min: 1 });
  const warmupEpochs = numberOption('--warmup-epochs', opts.warmupEpochs, { min: 0 });
  const iterations = opts.iterations !== undefined ? numberOption('--iterations', opts.iterations, { integer: true, min: 1 }) : undefined;
  const saveEvery = opts.saveEvery !== undefined ? numberOption('--save-every', opts.saveEvery, { integer: true, min: 1 }) : undefined;
  const seed = numberOption('--seed', opts.seed, { integer: true });
  const koleo = numberOption('--koleo', opts.koleo, { min: 0 });
  const scheduleOverrides = scheduleOverridesFromCli(opts);
  evalFlags(opts);
  const augmentation = augmentationFromCli(opts);
  if (!(CENTERINGS as readonly string[]).includes(opts.centering)) throw new Error(`--centering must be one of ${CENTERINGS.join(', ')}, got '${opts.centering}'`);

  const stopAfter = opts.stopAfter !== undefined ? numberOption('--stop-after', opts.stopAfter, { integer: true, min: 1 }) : undefined;
  if (opts.resume && opts.overwrite) throw new Error('give either --resume or --overwrite, not both');

  // The schedule is checked here, before any checkpoint is read or downloaded.
  const official = { ...officialScheduleConfig({ batchSize: batch, epochs, epochLength, baseLr, warmupEpochs }), ...scheduleOverrides };
  try {
    buildSchedules(official);
  } catch (e) {
    throw new Error(`--epochs ${epochs} / --epoch-length ${epochLength} / --warmup-epochs ${warmupEpochs}: ${(e as Error).message.replace(/^schedules: /, '')}`);
  }
  const scheduled = Math.round(epochs * epochLength);
  const total = iterations ?? scheduled;
  if (total < 1) throw new Error(`--epochs ${epochs} × --epoch-length ${epochLength} gives no iterations; lengthen the schedule or give --iterations`);
  // A run shorter than its schedule would never leave the warm-up: the schedule is fitted to it.
  const fitted = iterations !== undefined && iterations < scheduled;
  const schedule = fitted ? fitScheduleToIterations(official, iterations) : official;
  if (stopAfter !== undefined && stopAfter > total) throw new Error(`--stop-after ${stopAfter} is past the run's ${total} iterations`);

  await checkDeviceFromCli(opts.device);
  const { files, problems } = await expandInputs(inputs);
  for (const p of problems) log(`skipped ${p.path}: ${p.reason}`);
  if (files.length === 0) throw new Error('no images to train on');
  if (files.length < batch) throw new Error(`--batch ${batch} needs at least ${batch} images, found ${files.length}`);

  // --from-official needs the architecture only (as a resume does): the values come from the checkpoint.
  const { backbone, init, from } = await initialModel(opts, seed, opts.resume === true || opts.fromOfficial !== undefined);
  const patch = backbone.patch_size;
  for (const [flag, size] of [['--global-size', globalSize], ['--local-size', localSize]] as const) {
    if (size % patch !== 0) throw new Error(`${flag} ${size} is not a multiple of the patch size ${patch} (nearest: ${Math.max(patch, Math.round(size / patch) * patch)})`);
  }
  const cfg: SslConfig = {
    backbone,
    dinoHead: { outDim: prototypes, hiddenDim: headHidden, bottleneckDim: headBottleneck, nlayers: 3 },
    ibotHead: null,
    nImages: batch,
    localCropsNumber: localCrops,
    globalCropsSize: globalSize,
    localCropsSize: localSize,
    studentTemp: 0.1,
    centering: opts.centering as Centering,
    centerMomentum: 0.9,
    dinoLossWeight: 1,
    ibotLossWeight: 1,
    koleoLossWeight: koleo,
    dropPathRate: dropPath,
  };
  const runtime = { ...runtimeFromCli(opts), ...(opts.lowMemory ? { sessionOptions: { enableCpuMemArena: false } } : {}) };
  const evaluation = await evalFromCli(opts, globalSize, runtime);
  const watch = new DinoCollapseWatch({ prototypes, after: Math.max(50, Math.round(total / 10)) });
  const { lr } = schedule;
  const say = opts.quiet ? () => undefined : log;
  say(`train: ${files.length} images, from ${from}; batch ${batch} × (2 × ${globalSize}² + ${localCrops} × ${localSize}²), ${prototypes} prototypes, lr ${lr.toExponential(3)}, ${total} iterations${stopAfter !== undefined ? ` (stopping after ${stopAfter})` : ''}`);
  if (fitted) log(`schedule fitted to --iterations ${total} (instead of --epochs ${epochs} × --epoch-length ${epochLength} = ${scheduled}): warm-ups and decays keep their share of the run`);
  log(formatSchedule(scheduleSummary(schedule, total)));
  if (opts.lowMemory) {
    const hint = lowMemoryHint(process.platform, process.env);
    if (hint) log(hint);
  }

  const initialStore = opts.fromOfficial ? await importOfficialCheckpoint(opts.fromOfficial, cfg, OFFICIAL_OPTIM) : undefined;
  if (initialStore) log(`train: continuing the official checkpoint ${opts.fromOfficial} at iteration ${initialStore.iteration}`);
  const bar = createProgressBar({ total, unit: 'it', ...(opts.quiet ? { quiet: true } : {}) });
  let result: SslImageTrainingResult;
  try {
    result = await trainSslOnImages({
      ...(initialStore ? { initialStore } : {}),
      images: files,
      outDir: opts.out,
      cfg,
      schedule,
      ...(init ? { init } : {}),
      iterations: stopAfter ?? total,
      ...(opts.overwrite ? { overwrite: true } : {}),
      ...(saveEvery !== undefined ? { saveEvery } : {}),
      ...(opts.resume ? { resume: true } : {}),
      seed,
      augmentation,
      ...loaderFromCli(opts),
      runtime,
      ...(evaluation ? { evaluate: { every: evaluation.every, run: (w) => evaluation.knn.evaluate(backbone, w) } } : {}),
      onEvaluation: (it, e) => bar.log(`  k-NN after ${it} iterations: ${formatKnn(e)}`),
      onIteration: iterationLogger(bar, !!opts.quiet, () => watch),
      onSkip: (path, reason) => bar.log(`skipped ${path}: ${reason.startsWith(path) ? reason.slice(path.length + 2) : reason}`),
    });
  } finally {
    bar.stop();
  }
  if (!opts.exportOfficial) return result;
  // The saved state is the run's last; the optimizer groups get the schedule values of its last step.
  const saved = await loadTrainState(result.stateDir);
  const it = saved.store.iteration - 1;
  const s = buildSchedules(schedule);
  const hyper = { lr: s.lr.at(it), wd: s.wd.at(it), lastLayerLr: s.lastLayerLr.at(it), teacherTemp: s.teacherTemp.at(it), teacherMomentum: s.momentum.at(it) };
  const { file } = await exportOfficialCheckpoint(opts.exportOfficial, cfg, saved.store, { optim: OFFICIAL_OPTIM, hyper });
  try {
    const yaml = officialConfigYaml({ cfg, schedule, optim: OFFICIAL_OPTIM, outputDir: opts.exportOfficial });
    await writeFile(join(opts.exportOfficial, 'config.yaml'), yaml);
    log(`train: official checkpoint ${file} and config.yaml (for 1 GPU of batch ${cfg.nImages}; see docs/SCALING.md for more GPUs)`);
  } catch (e) {
    log(`train: official checkpoint ${file}; no config.yaml: ${(e as Error).message}`);
  }
  return { ...result, official: file };
}

/** One line: the schedule's values at the start and the end of the run. */
export function formatSchedule(s: ScheduleSummary): string {
  const e = (v: number): string => v.toExponential(2);
  const f = (v: number): string => String(+v.toPrecision(4));
  return (
    `schedule over ${s.iterations} iterations: lr ${e(s.lr.start)} → ${e(s.lr.peak)} (warm-up ${s.lr.warmupIterations} it) → ${e(s.lr.end)}; ` +
    `weight decay ${f(s.weightDecay.start)} → ${f(s.weightDecay.end)}; teacher momentum ${f(s.teacherMomentum.start)} → ${f(s.teacherMomentum.end)}; ` +
    `teacher temperature ${f(s.teacherTemp.start)} → ${f(s.teacherTemp.end)} (warm-up ${s.teacherTemp.warmupIterations} it)`
  );
}

export function registerTrain(program: Command): void {
  addImageLoopOptions(addArchitectureOptions(addRuntimeOptions(program.command('train'))), 'teacher')
    .description('DINOv2 self-supervised training (DINO + iBOT + KoLeo, EMA teacher, multi-crop) on your images, from a released backbone or from scratch')
    .argument('<inputs...>', 'image files, folders or globs')
    .requiredOption('--out <dir>', 'run folder: state/ (resumable), log.jsonl, teacher_backbone.safetensors (official keys)')
    .option('--model <name|path>', `start from this backbone: hub model (${HUB_MODELS.join(', ')}) or checkpoint; default: from scratch`)
    .option('--arch <name|json>', 'architecture when training from scratch: a hub name or a JSON file of backbone settings (embed_dim, depth, patch_size, …)', 'dinov2_vits14')
    .option('--offline', 'never download the starting backbone')
    .option('--batch <n>', 'images per iteration', '8')
    .option('--prototypes <k>', 'DINO/iBOT head prototypes (official 65536)', '65536')
    .option('--head-hidden <n>', 'head MLP width (official 2048)', '2048')
    .option('--head-bottleneck <n>', 'head bottleneck (official 256)', '256')
    .option('--drop-path <rate>', 'student stochastic depth (official 0.3 from scratch; lower when adapting)', '0.1')
    .option('--stop-after <n>', 'stop after this many iterations of the schedule, to --resume later')
    .option('--export-official <dir>', "at the end, also write the run in the official trainer's checkpoint layout (model_XXXXXXX.rank_0.pth; docs/SCALING.md)")
    .option('--from-official <ckpt>', 'start from an official checkpoint (file or its output dir); --arch/--model give the architecture')
    .option('--overwrite', 'replace the run in --out (without --resume or --overwrite, an existing run is refused)')
    .option('--low-memory', "turn onnxruntime's CPU arena off: about 25 % less memory; on Linux start it with GLIBC_TUNABLES (README) or it is about twice as slow")
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 train photos/ --model dinov2_vits14 --out run --epochs 10 --epoch-length 100 --save-every 100\n' +
        '  $ dinov2 train photos/ --out run --resume ...same options...\n' +
        '  $ dinov2 embed photos/ --model run/teacher_backbone.safetensors --out feats.npy',
    )
    .action(async (inputs: string[], opts: TrainCliOptions) => {
      const r = await runTrain(inputs, opts);
      console.log(JSON.stringify({ iterations: r.iterations, teacherBackbone: r.teacherBackbone, state: r.stateDir, skipped: r.skipped, ...(r.official ? { official: r.official } : {}) }));
      if (r.skipped.length > 0) process.exitCode = 1;
    });
}

/** The glibc settings `--low-memory` wants (README "Memory"), as GLIBC_TUNABLES. */
export const LOW_MEMORY_TUNABLES = 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=268435456';

/**
 * With the arena off, every tensor over glibc's 32 MiB mmap threshold is mapped and faulted afresh on each
 * step; glibc reads its malloc settings only at process start, so the command can only say how to start it.
 * Undefined where there is nothing to say (not Linux, or mmap_max already set).
 */
export function lowMemoryHint(platform: string, env: NodeJS.ProcessEnv): string | undefined {
  if (platform !== 'linux') return undefined;
  if (/glibc\.malloc\.mmap_max=/.test(env['GLIBC_TUNABLES'] ?? '') || env['MALLOC_MMAP_MAX_'] !== undefined) return undefined;
  return `train: --low-memory without glibc's heap settings costs about twice the CPU time per step; start it as GLIBC_TUNABLES=${LOW_MEMORY_TUNABLES} dinov2 train …`;
}
