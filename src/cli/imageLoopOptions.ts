/**
 * The options `dinov2 train` and `dinov2 distill` share: they run the same image loop (crops, schedule,
 * augmentation, losses, k-NN during the run, saves and resume), so they take the same flags with the same
 * defaults. `trained` names the model the run writes and evaluates ('teacher' or 'student EMA').
 */
import { Option, type Command } from 'commander';
import type { ScheduleConfig } from '../train/optim/schedules.js';
import type { MultiCropOptions } from '../data/augmentations.js';
import { DEFAULT_DECODE_CACHE_BYTES } from '../data/augmentPool.js';
import type { IterationEvent } from '../train/ssl/sslImageLoop.js';
import type { DinoCollapseWatch } from '../train/ssl/collapse.js';
import { nonNegativeInt, numberOption } from './inputs.js';
import type { ProgressBar } from './progressBar.js';

export function addImageLoopOptions(cmd: Command, trained: string): Command {
  return cmd
    .option('--global-size <px>', 'global crop size (official 224)', '224')
    .option('--local-size <px>', 'local crop size (official 96/98; a multiple of the patch size)', '98')
    .option('--local-crops <n>', 'local crops per image (official 8)', '8')
    .option('--centering <mode>', 'teacher centering: sinkhorn_knopp (official), sinkhorn_knopp_stable (same targets without float32 overflow at low --teacher-temp) or centering (softmax, with center EMA)', 'sinkhorn_knopp')
    .option('--koleo <weight>', 'KoLeo loss weight (official 0.1)', '0.1')
    .option('--teacher-temp <t>', 'teacher temperature after its warm-up (official 0.07)', '0.07')
    .option('--warmup-teacher-temp <t>', 'teacher temperature at the start of its warm-up (official 0.04)', '0.04')
    .option('--warmup-teacher-temp-epochs <n>', 'length of the teacher-temperature warm-up in epochs (official 30, cut to the run)')
    .option('--momentum-teacher <m>', `EMA momentum of the ${trained} at the start, rising to --final-momentum-teacher on a cosine (official 0.992)`, '0.992')
    .option('--final-momentum-teacher <m>', 'EMA momentum at the end of the run (official 1)', '1')
    .option('--lr <rate>', 'base learning rate for a batch of 1024 (official 0.004), scaled by sqrt(batch/1024)', '0.004')
    .option('--epochs <n>', 'schedule length in epochs (official 100)', '100')
    .option('--epoch-length <n>', 'iterations per epoch (official 1250)', '1250')
    .option('--warmup-epochs <n>', 'learning-rate warm-up (official 10)', '10')
    .option('--iterations <n>', 'length of the run (default: epochs × epoch length)')
    .option('--save-every <n>', `save the state and the ${trained} backbone every n iterations (default: at the end)`)
    .option('--blur <mode>', "'official' (the blur probabilities the released models saw) or 'nominal'", 'official')
    .option('--blur-sigma <a,b>', 'range of the blur σ in pixels (official 0.1,2 for 224-px crops; scale it with small crops)')
    .option('--global-scale <a,b>', 'global crop area range (official 0.32,1)')
    .option('--local-scale <a,b>', 'local crop area range (official 0.05,0.32)')
    .option('--eval-every <n>', `run the k-NN protocol on the ${trained} every n iterations (and before the first, and after the last); needs --eval-train and --eval-val`)
    .option('--eval-train <dir|csv>', 'labelled images for --eval-every: class sub-folders or a CSV of path,label')
    .option('--eval-val <dir|csv>', 'labelled validation images for --eval-every')
    .option('--eval-size <px>', 'eval-transform crop for --eval-every (default: --global-size)')
    .option('--eval-k <list>', 'values of k for --eval-every, comma-separated', '10,20')
    .option('--seed <n>', 'seed of the initialisation, the sampler and the crops', '0')
    .option('--resume', 'continue the run in --out')
    .addOption(new Option('--workers <n>', 'threads decoding and augmenting images (default: the free cores, 1–4; 0: the main thread)').argParser(nonNegativeInt))
    .addOption(new Option('--decode-cache <MiB>', 'decoded images kept for the next epochs, in MiB (0: decode every time)').default(DEFAULT_DECODE_CACHE_BYTES / 2 ** 20).argParser(nonNegativeInt))
    .option('--quiet', 'no progress bar or lines (the schedule and warnings are still printed)');
}

export interface LoaderCliOptions {
  workers?: number;
  decodeCache: number;
}

/** `--workers` and `--decode-cache` as the image loop's options. */
export function loaderFromCli(opts: LoaderCliOptions): { augmentWorkers?: number; decodeCacheBytes: number } {
  return { ...(opts.workers !== undefined ? { augmentWorkers: opts.workers } : {}), decodeCacheBytes: opts.decodeCache * 2 ** 20 };
}

/**
 * What train and distill print per iteration: the collapse warning (always), then — unless `quiet` — a
 * resume notice, the bar, and a loss line about every 5 % of the run. `watch()` is read per call: distill
 * creates its watch once the run's configuration is known.
 */
export function iterationLogger(bar: ProgressBar, quiet: boolean, watch: () => DinoCollapseWatch | undefined): (e: IterationEvent) => void {
  let shown = 0;
  return (e) => {
    const warning = watch()?.push(e.iteration - 1, e.losses);
    if (warning) bar.log(warning);
    if (shown === 0 && e.iteration > 1 && !quiet) bar.log(`resumed at iteration ${e.iteration - 1}`);
    bar.tick(e.iteration - shown);
    shown = e.iteration;
    if (quiet) return;
    if (e.iteration === e.total || e.iteration % Math.max(1, Math.round(e.total / 20)) === 0) {
      const l = e.losses;
      bar.log(`  iter ${e.iteration}/${e.total}  total ${l.total.toFixed(4)}  dino ${(l.dino_local_crops + l.dino_global_crops).toFixed(4)}  ibot ${l.ibot.toFixed(4)}  koleo ${l.koleo.toFixed(4)}  lr ${e.hyper.lr.toExponential(2)}  ${e.seconds.toFixed(2)} s`);
    }
  };
}

export interface ScheduleCliOptions {
  teacherTemp: string;
  warmupTeacherTemp: string;
  warmupTeacherTempEpochs?: string;
  momentumTeacher: string;
  finalMomentumTeacher: string;
}

/** The teacher-temperature and EMA-momentum flags as overrides of the official schedule. */
export function scheduleOverridesFromCli(opts: ScheduleCliOptions): Pick<ScheduleConfig, 'teacherTemp' | 'warmupTeacherTemp' | 'momentumTeacher' | 'finalMomentumTeacher'> & Partial<Pick<ScheduleConfig, 'warmupTeacherTempEpochs'>> {
  const temperature = (flag: string, v: string) => {
    const t = numberOption(flag, v, { min: 0 });
    if (!(t > 0)) throw new Error(`${flag} must be positive, got ${t}`);
    return t;
  };
  const momentum = (flag: string, v: string) => {
    const m = numberOption(flag, v, { min: 0 });
    if (m > 1) throw new Error(`${flag} must be between 0 and 1, got ${m}`);
    return m;
  };
  return {
    teacherTemp: temperature('--teacher-temp', opts.teacherTemp),
    warmupTeacherTemp: temperature('--warmup-teacher-temp', opts.warmupTeacherTemp),
    ...(opts.warmupTeacherTempEpochs !== undefined ? { warmupTeacherTempEpochs: numberOption('--warmup-teacher-temp-epochs', opts.warmupTeacherTempEpochs, { min: 0 }) } : {}),
    momentumTeacher: momentum('--momentum-teacher', opts.momentumTeacher),
    finalMomentumTeacher: momentum('--final-momentum-teacher', opts.finalMomentumTeacher),
  };
}

/**
 * A range flag: two numbers a,b with 0 < a <= b (<= max when given) — the crop-area ranges (max 1) and the
 * blur's σ range (pixels, unbounded).
 */
export function numberPair(flag: string, value: string, { max }: { max?: number } = {}): [number, number] {
  const parts = value.split(',').map((v) => Number(v.trim()));
  const inRange = (v: number) => Number.isFinite(v) && v > 0 && (max === undefined || v <= max);
  if (parts.length !== 2 || !parts.every(inRange) || parts[0]! > parts[1]!) {
    throw new Error(`${flag} ${value}: expected two numbers a,b with 0 < a <= b${max === undefined ? '' : ` <= ${max}`}`);
  }
  return [parts[0]!, parts[1]!];
}

export interface AugmentationCliOptions {
  blur: string;
  blurSigma?: string;
  globalScale?: string;
  localScale?: string;
}

/** --blur, --blur-sigma, --global-scale and --local-scale as the loop's augmentation options. */
export function augmentationFromCli(opts: AugmentationCliOptions): Pick<MultiCropOptions, 'blur' | 'blurSigma' | 'globalCropsScale' | 'localCropsScale'> {
  if (opts.blur !== 'official' && opts.blur !== 'nominal') throw new Error(`--blur must be official or nominal, got '${opts.blur}'`);
  return {
    blur: opts.blur,
    ...(opts.blurSigma !== undefined ? { blurSigma: numberPair('--blur-sigma', opts.blurSigma) } : {}),
    ...(opts.globalScale !== undefined ? { globalCropsScale: numberPair('--global-scale', opts.globalScale, { max: 1 }) } : {}),
    ...(opts.localScale !== undefined ? { localCropsScale: numberPair('--local-scale', opts.localScale, { max: 1 }) } : {}),
  };
}
