/**
 * The hand-off to the official trainer (dinov2/train/train.py: torchrun + FSDP): a dinov2-ts run written
 * as the official checkpoint, and an official checkpoint read back as a run to continue here.
 *
 * Layout (fvcore's Checkpointer as dinov2/fsdp/FSDPCheckpointer uses it; `PeriodicCheckpointer.step(it)`
 * after iteration `it`): `<dir>/model_<it:07d>.rank_<r>.pth` = torch.save of
 *   {"model": SSLMetaArch.state_dict(), "optimizer": AdamW.state_dict(), "iteration": it}
 * and `<dir>/last_checkpoint.rank_<r>` naming that file; the trainer resumes at it + 1.
 *
 * - "model": `dino_loss.center`, `ibot_patch_loss.center`, then `student.<key>` and `teacher.<key>` for
 *   backbone, dino_head (and ibot_head), the official keys (our ParamStore's names).
 * - "optimizer": torch's AdamW state dict: `param_groups` in the order `SSLMetaArch.get_params_groups()`
 *   builds them (per student module, fused by lr multiplier / wd multiplier / last-layer flag — the
 *   ParamStore's groups are built the same way), each with its hyper-parameters and `params` = running
 *   indices; `state[i]` = {step, exp_avg, exp_avg_sq} of parameter i in that order.
 * - Schedules are not state in the official trainer: each iteration reads lr, wd, momentum, teacher
 *   temperature and last-layer lr from schedules rebuilt from the config, at `iteration + 1`. So the same
 *   schedule settings (epochs, epoch length, base lr, warm-up…) must be given on both sides.
 *
 * What the official trainer writes with FSDP is `LOCAL_STATE_DICT`: per-rank flattened shards
 * (`…_flat_param` ShardedTensors). This module writes and reads the unflattened, one-rank form — what
 * `SSLMetaArch.state_dict()` is without FSDP wrapping (and with FULL_STATE_DICT). Reading a sharded
 * checkpoint is refused with an explanation; see docs/SCALING.md for the consolidation step.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PthFile } from '../../formats/pth.js';
import { PyDict, PyTuple, pyFloat, writeTorchSave, type PyValue } from '../../formats/torchSave.js';
import type { TensorItem } from '../../formats/tensorItem.js';
import type { ParamStore } from '../optim/paramStore.js';
import { createSslStore, DINO_CENTER, IBOT_CENTER } from './sslStep.js';
import type { SslConfig, SslOptimConfig, SslStepHyper } from './sslConfig.js';

/** `model_0000123` for iteration 123 (the name `PeriodicCheckpointer` gives). */
export function officialCheckpointName(iteration: number): string {
  return `model_${String(iteration).padStart(7, '0')}`;
}

export interface OfficialExportOptions {
  optim: SslOptimConfig;
  /** The schedules' values at the last step done (they go into the optimizer groups, as the official
   * `apply_optim_scheduler` leaves them; the trainer overwrites them at its next iteration). */
  hyper?: SslStepHyper;
  rank?: number;
}

function f32(key: string, shape: readonly number[], data: Float32Array | (() => Float32Array)): TensorItem {
  return { key, dtype: 'F32', shape, data };
}

/** The official layout of the SSLMetaArch state dict for this store. */
function modelEntries(cfg: SslConfig, store: ParamStore): [string, PyValue][] {
  const out: [string, PyValue][] = [];
  const K = cfg.dinoHead.outDim;
  const Ki = (cfg.ibotHead ?? cfg.dinoHead).outDim;
  const center = (name: string, shape: number[]): TensorItem => {
    const b = store.buffers.get(name);
    return f32(name, shape, b ? b.data : new Float32Array(shape.reduce((a, d) => a * d, 1)));
  };
  // Registered before student/teacher in SSLMetaArch.__init__ (only when the loss is on).
  if (cfg.dinoLossWeight > 0) out.push([DINO_CENTER, center(DINO_CENTER, [1, K])]);
  if (cfg.ibotLossWeight > 0) out.push([IBOT_CENTER, center(IBOT_CENTER, [1, 1, Ki])]);
  for (const s of store.slots) out.push([`student.${s.name}`, f32(`student.${s.name}`, s.shape, () => store.param(s.name))]);
  for (const s of store.slots) out.push([`teacher.${s.name}`, f32(`teacher.${s.name}`, s.shape, () => store.teacherParam(s.name))]);
  return out;
}

/** Writes the run as `<dir>/model_<it>.rank_<r>.pth` + `last_checkpoint.rank_<r>`; returns the file. */
export async function exportOfficialCheckpoint(dir: string, cfg: SslConfig, store: ParamStore, opts: OfficialExportOptions): Promise<{ file: string; iteration: number }> {
  if (store.iteration < 1) throw new Error('export to the official trainer: the run has no step yet (the official checkpoint records the last iteration done)');
  const iteration = store.iteration - 1;
  const rank = opts.rank ?? 0;
  const hyper = opts.hyper;
  const index = new Map(store.slots.map((s, i) => [s.name, i]));
  let next = 0;
  const state: [number, PyValue][] = [];
  const groups: PyValue[] = store.groups.map((g) => {
    const ids: number[] = [];
    for (const name of g.params) {
      const id = next++;
      ids.push(id);
      const i = index.get(name)!;
      const s = store.slots[i]!;
      state.push([
        id,
        new PyDict([
          ['step', f32(`optimizer.state.${id}.step`, [], Float32Array.of(store.steps[i]!))],
          ['exp_avg', f32(`optimizer.state.${id}.exp_avg`, s.shape, () => store.expAvgOf(name))],
          ['exp_avg_sq', f32(`optimizer.state.${id}.exp_avg_sq`, s.shape, () => store.expAvgSqOf(name))],
        ]),
      ]);
    }
    const lr = hyper ? (g.isLastLayer ? hyper.lastLayerLr : hyper.lr) * g.lrMultiplier : 0;
    const wd = hyper ? hyper.wd * g.wdMultiplier : 0;
    return new PyDict([
      ['lr', pyFloat(lr)],
      ['betas', new PyTuple([pyFloat(opts.optim.beta1), pyFloat(opts.optim.beta2)])],
      ['eps', pyFloat(opts.optim.eps)],
      ['weight_decay', pyFloat(wd)],
      ['amsgrad', false],
      ['foreach', null],
      ['maximize', false],
      ['capturable', false],
      ['differentiable', false],
      ['fused', null],
      ['is_last_layer', g.isLastLayer],
      ['lr_multiplier', pyFloat(g.lrMultiplier)],
      ['wd_multiplier', pyFloat(g.wdMultiplier)],
      ['params', ids],
    ]);
  });
  const tree = new PyDict([
    ['model', new PyDict(modelEntries(cfg, store), true)],
    ['optimizer', new PyDict([['state', new PyDict(state)], ['param_groups', groups]])],
    ['iteration', iteration],
  ]);
  await mkdir(dir, { recursive: true });
  const name = `${officialCheckpointName(iteration)}.rank_${rank}.pth`;
  const file = join(dir, name);
  await writeTorchSave(file, tree);
  const tag = join(dir, `last_checkpoint.rank_${rank}`);
  await writeFile(`${tag}.partial-${process.pid}`, name);
  await rename(`${tag}.partial-${process.pid}`, tag);
  return { file, iteration };
}

/** The checkpoint file: `path` itself, or the one a directory's `last_checkpoint.rank_<r>` names. */
export async function resolveOfficialCheckpoint(path: string, rank = 0): Promise<string> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new Error(`${path}: no such checkpoint file or directory`);
  if (!s.isDirectory()) return path;
  const tag = join(path, `last_checkpoint.rank_${rank}`);
  const name = (await readFile(tag, 'utf8').catch(() => {
    throw new Error(`${path}: a directory without last_checkpoint.rank_${rank}; name the model_XXXXXXX.rank_${rank}.pth file`);
  })).trim();
  return join(path, basename(name));
}

/**
 * An official checkpoint as a ParamStore for `cfg` (the same architecture, heads and optimizer settings
 * as the official run), ready to continue: student, teacher, AdamW moments and step counts, centers,
 * and `iteration` = the official one + 1.
 */
export async function importOfficialCheckpoint(path: string, cfg: SslConfig, optim: SslOptimConfig): Promise<ParamStore> {
  const file = await PthFile.open(await resolveOfficialCheckpoint(path));
  const where = file.path;
  try {
    const tree = file.tree;
    if (!(tree instanceof Map) || !(tree.get('model') instanceof Map)) throw new Error(`${where}: not a training checkpoint (expected a dict with 'model', 'optimizer', 'iteration')`);
    const keys = file.keys();
    if (keys.some((k) => k.includes('_flat_param') || k.includes('_fsdp_wrapped_module'))) {
      throw new Error(`${where}: an FSDP sharded checkpoint (flattened '_flat_param' shards, LOCAL_STATE_DICT); consolidate it to a full state dict first (docs/SCALING.md, "From the official trainer")`);
    }
    const iteration = tree.get('iteration');
    if (typeof iteration !== 'number' || !Number.isSafeInteger(iteration)) throw new Error(`${where}: 'iteration' is missing or not an integer`);
    const read = async (key: string, shape: readonly number[]): Promise<Float32Array> => {
      const e = file.entry(key);
      if (!e) throw new Error(`${where}: missing '${key}'`);
      if (e.shape.join() !== shape.join()) throw new Error(`${where}: '${key}' is [${e.shape.join(', ')}], the configuration needs [${shape.join(', ')}] (same architecture and heads as the official run?)`);
      return file.readFloat32(key);
    };
    // Values first (the store copies them in).
    const student = new Map<string, Float32Array>();
    const teacher = new Map<string, Float32Array>();
    const probe = createSslStore(cfg, optim, () => undefined);
    for (const s of probe.slots) {
      student.set(s.name, await read(`model.student.${s.name}`, s.shape));
      teacher.set(s.name, await read(`model.teacher.${s.name}`, s.shape));
    }
    const extra = keys.filter((k) => k.startsWith('model.student.') && !probe.has(k.slice('model.student.'.length)));
    if (extra.length > 0) throw new Error(`${where}: student parameters this configuration does not have: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`);
    const store = createSslStore(cfg, optim, (n) => student.get(n), (n) => teacher.get(n));

    // The optimizer: the same groups, in the same order, with the same parameter counts.
    const opt = tree.get('optimizer');
    const groups = opt instanceof Map ? opt.get('param_groups') : undefined;
    if (!Array.isArray(groups)) throw new Error(`${where}: 'optimizer' has no param_groups`);
    if (groups.length !== store.groups.length) {
      throw new Error(`${where}: the optimizer has ${groups.length} parameter groups, this configuration ${store.groups.length} (other layerwise_decay / patch_embed_lr_mult / depth?)`);
    }
    let id = 0;
    for (const [gi, g] of store.groups.entries()) {
      const saved = groups[gi] as Map<string, unknown>;
      const params = saved.get('params');
      const same = (k: string, v: number | boolean): boolean => saved.get(k) === v;
      if (!Array.isArray(params) || params.length !== g.params.length || !same('lr_multiplier', g.lrMultiplier) || !same('wd_multiplier', g.wdMultiplier) || !same('is_last_layer', g.isLastLayer)) {
        throw new Error(`${where}: optimizer group ${gi} is (${String(saved.get('lr_multiplier'))}, ${String(saved.get('wd_multiplier'))}, ${String(saved.get('is_last_layer'))}, ${Array.isArray(params) ? params.length : '?'} params), expected (${g.lrMultiplier}, ${g.wdMultiplier}, ${g.isLastLayer}, ${g.params.length}) — not the same parameter grouping`);
      }
      for (const [j, name] of g.params.entries()) {
        const pid = params[j] as number;
        if (pid !== id) throw new Error(`${where}: optimizer group ${gi} lists parameter ${pid} at position ${j}, expected ${id}`);
        const s = store.slot(name);
        const stepKey = `optimizer.state.${pid}.step`;
        const stepRaw = file.entry(stepKey) ? (await file.readFloat32(stepKey))[0]! : ((opt as Map<string, unknown>).get('state') as Map<number, Map<string, unknown>> | undefined)?.get(pid)?.get('step');
        if (typeof stepRaw !== 'number') throw new Error(`${where}: no AdamW state for parameter ${pid} ('${name}')`);
        store.expAvgOf(name).set(await read(`optimizer.state.${pid}.exp_avg`, s.shape));
        store.expAvgSqOf(name).set(await read(`optimizer.state.${pid}.exp_avg_sq`, s.shape));
        store.steps[store.indexOf(name)] = stepRaw;
        id++;
      }
    }
    if (cfg.centering === 'centering') {
      const K = cfg.dinoHead.outDim;
      const Ki = (cfg.ibotHead ?? cfg.dinoHead).outDim;
      store.setBuffer(DINO_CENTER, [1, K], await read(`model.${DINO_CENTER}`, [1, K]));
      store.setBuffer(IBOT_CENTER, [1, 1, Ki], await read(`model.${IBOT_CENTER}`, [1, 1, Ki]));
    }
    store.iteration = iteration + 1;
    return store;
  } finally {
    await file.close();
  }
}

/** Where `exportOfficialCheckpoint` puts the file for a store at `iteration` steps. */
export function officialCheckpointPath(dir: string, iteration: number, rank = 0): string {
  return join(dir, `${officialCheckpointName(iteration - 1)}.rank_${rank}.pth`);
}


/** The official architecture names (dinov2/models/vision_transformer.py) by (embed_dim, depth, heads). */
const OFFICIAL_ARCHS: [string, number, number, number][] = [
  ['vit_small', 384, 12, 6],
  ['vit_base', 768, 12, 12],
  ['vit_large', 1024, 24, 16],
  ['vit_giant2', 1536, 40, 24],
];

export interface OfficialConfigOptions {
  cfg: SslConfig;
  schedule: import('../optim/schedules.js').ScheduleConfig;
  optim: SslOptimConfig;
  /** GPUs of the official run: its lr is base_lr · √(batch_size_per_gpu · GPUs / 1024) (default 1). */
  worldSize?: number;
  /** `train.dataset_path`, e.g. from `dinov2 curate --official-dataset`. */
  datasetPath?: string;
  outputDir?: string;
}

/** A YAML float that PyYAML (YAML 1.1) reads as a float: a dot in the mantissa, a signed exponent. */
const num = (v: number): string => {
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return `${v}.0`;
  const t = String(v);
  if (!t.includes('e')) return t;
  const [m, e] = t.split('e') as [string, string];
  return `${m.includes('.') ? m : `${m}.0`}e${e.startsWith('-') || e.startsWith('+') ? e : `+${e}`}`;
};

/**
 * The settings of this run as overrides of the official ssl_default_config.yaml (YAML), so that the
 * official trainer builds the same model, heads, parameter groups and schedules: `base_lr` is chosen so
 * that the official sqrt_wrt_1024 rule gives this run's peak lr for `worldSize` GPUs of `nImages` each.
 */
export function officialConfigYaml(o: OfficialConfigOptions): string {
  const { cfg, schedule: s, optim } = o;
  const b = cfg.backbone;
  const arch = OFFICIAL_ARCHS.find(([, d, depth, h]) => d === b.embed_dim && depth === b.depth && h === b.num_heads);
  if (!arch) throw new Error(`official config: a ViT with embed_dim ${b.embed_dim}, depth ${b.depth}, ${b.num_heads} heads is not one of the official architectures (${OFFICIAL_ARCHS.map((a) => a[0]).join(', ')})`);
  if (b.mlp_ratio !== 4) throw new Error(`official config: mlp_ratio ${b.mlp_ratio}; the official architectures use 4`);
  const world = o.worldSize ?? 1;
  const baseLr = s.lr / Math.sqrt((cfg.nImages * world) / 1024);
  const ibot = cfg.ibotHead;
  const lines = [
    '# dinov2-ts run settings as overrides of dinov2/configs/ssl_default_config.yaml (docs/SCALING.md)',
    'student:',
    `  arch: ${arch[0]}`,
    `  patch_size: ${b.patch_size}`,
    `  drop_path_rate: ${num(cfg.dropPathRate ?? 0)}`,
    `  drop_path_uniform: ${cfg.dropPathUniform ?? true}`,
    `  layerscale: ${b.init_values > 0 ? num(b.init_values) : 'null'}`,
    `  ffn_layer: ${b.ffn_layer === 'swiglu' ? 'swiglufused' : b.ffn_layer}`,
    '  block_chunks: 0',
    `  qkv_bias: ${b.qkv_bias}`,
    `  proj_bias: ${b.proj_bias}`,
    `  ffn_bias: ${b.ffn_bias}`,
    `  num_register_tokens: ${b.num_register_tokens}`,
    `  interpolate_antialias: ${b.interpolate_antialias}`,
    `  interpolate_offset: ${num(b.interpolate_offset)}`,
    'dino:',
    `  loss_weight: ${num(cfg.dinoLossWeight)}`,
    `  head_n_prototypes: ${cfg.dinoHead.outDim}`,
    `  head_bottleneck_dim: ${cfg.dinoHead.bottleneckDim}`,
    `  head_nlayers: ${cfg.dinoHead.nlayers}`,
    `  head_hidden_dim: ${cfg.dinoHead.hiddenDim}`,
    `  koleo_loss_weight: ${num(cfg.koleoLossWeight)}`,
    'ibot:',
    `  loss_weight: ${num(cfg.ibotLossWeight)}`,
    `  separate_head: ${ibot !== null}`,
    ...(ibot ? [`  head_n_prototypes: ${ibot.outDim}`, `  head_bottleneck_dim: ${ibot.bottleneckDim}`, `  head_nlayers: ${ibot.nlayers}`, `  head_hidden_dim: ${ibot.hiddenDim}`] : []),
    'train:',
    `  batch_size_per_gpu: ${cfg.nImages}`,
    `  OFFICIAL_EPOCH_LENGTH: ${s.epochLength}`,
    `  centering: ${cfg.centering}`,
    ...(o.datasetPath ? [`  dataset_path: ${JSON.stringify(o.datasetPath)}`] : []),
    ...(o.outputDir ? [`  output_dir: ${JSON.stringify(o.outputDir)}`] : []),
    'teacher:',
    `  momentum_teacher: ${num(s.momentumTeacher)}`,
    `  final_momentum_teacher: ${num(s.finalMomentumTeacher)}`,
    `  warmup_teacher_temp: ${num(s.warmupTeacherTemp)}`,
    `  teacher_temp: ${num(s.teacherTemp)}`,
    `  warmup_teacher_temp_epochs: ${s.warmupTeacherTempEpochs}`,
    'optim:',
    `  epochs: ${s.epochs}`,
    `  weight_decay: ${num(s.weightDecay)}`,
    `  weight_decay_end: ${num(s.weightDecayEnd)}`,
    `  base_lr: ${num(baseLr)}`,
    `  warmup_epochs: ${s.warmupEpochs}`,
    `  min_lr: ${num(s.minLr)}`,
    `  clip_grad: ${num(optim.clipGrad)}`,
    `  freeze_last_layer_epochs: ${s.freezeLastLayerEpochs}`,
    '  scaling_rule: sqrt_wrt_1024',
    `  patch_embed_lr_mult: ${num(optim.patchEmbedLrMult)}`,
    `  layerwise_decay: ${num(optim.layerwiseDecay)}`,
    `  adamw_beta1: ${num(optim.beta1)}`,
    `  adamw_beta2: ${num(optim.beta2)}`,
    'crops:',
    `  global_crops_size: ${cfg.globalCropsSize}`,
    `  local_crops_number: ${cfg.localCropsNumber}`,
    `  local_crops_size: ${cfg.localCropsSize}`,
  ];
  return `${lines.join('\n')}\n`;
}
