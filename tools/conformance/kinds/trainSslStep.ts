/**
 * Kind `train.ssl_step`: one full DINOv2 training iteration from `student.*` / `teacher.*` weights, the
 * crops `input.global_crops`, `input.local_crops` (crop-major) and the iBOT masks `input.masks`, with the
 * settings of `config`. Checked: each loss term as it enters the total (`expected.loss.*`), the teacher
 * targets, every student gradient before clipping (`expected.grad.*`), the per-module gradient norms
 * (`config.grad_norms_before_clip`), the parameter groups (`config.param_groups`), and after clipping,
 * AdamW and the EMA update the student and teacher parameters (`expected.student_after.*`,
 * `expected.teacher_after.*`). Cases made with 'centering' may also hold the centers the next step would
 * use (`expected.dino_center_after`, `expected.ibot_center_after`).
 *
 * A case may run several iterations (`config.steps`, default 1): step s > 0 reads its crops and masks
 * from `input.step<s>.*`, and the expected tensors describe the last step.
 */
import { join } from 'node:path';
import { makeConfig } from '../../../src/models/config.js';
import { Tensor } from '../../../src/core/tensor.js';
import { DINO_CENTER, IBOT_CENTER, SslTrainer, createSslStore, type SslBatch } from '../../../src/train/ssl/sslStep.js';
import type { HeadConfig, SslConfig, SslOptimConfig, SslStepHyper } from '../../../src/train/ssl/sslConfig.js';
import { LOSS_TERMS } from '../../../src/train/ssl/sslMetaArch.js';
import { withCaseFile, type CaseFile } from '../caseFile.js';
import { compareClose, type Comparison } from '../compare.js';
import type { KindHandler } from '../kind.js';
import { caseResult, compareExpected } from './expectedTensors.js';

type Json = Record<string, unknown>;

function num(cfg: Json, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number') throw new Error(`train.ssl_step config: '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function headConfig(h: unknown, what: string): HeadConfig {
  if (!h || typeof h !== 'object') throw new Error(`train.ssl_step config: '${what}' is missing`);
  const o = h as Json;
  return { outDim: num(o, 'out_dim'), hiddenDim: num(o, 'hidden_dim', 2048), bottleneckDim: num(o, 'bottleneck_dim', 256), nlayers: num(o, 'nlayers', 3) };
}

export interface SslCaseSettings {
  cfg: SslConfig;
  optim: SslOptimConfig;
  hyper: SslStepHyper;
}

/** The case's config in the project's terms; crop sizes and the batch size come from the input tensors. */
export function sslCaseSettings(config: Json, globalShape: readonly number[], localShape: readonly number[] | null): SslCaseSettings {
  const nImages = num(config, 'n_images');
  const separate = config['ibot_separate_head'] === true;
  const centering = (config['centering'] ?? 'sinkhorn_knopp') as SslConfig['centering'];
  const betas = (config['adamw_betas'] ?? [0.9, 0.999]) as number[];
  const cfg: SslConfig = {
    backbone: makeConfig(config['backbone'] as never),
    dinoHead: headConfig(config['dino_head'], 'dino_head'),
    ibotHead: separate ? headConfig(config['ibot_head'], 'ibot_head') : null,
    nImages,
    localCropsNumber: num(config, 'n_local_crops'),
    globalCropsSize: globalShape[2]!,
    localCropsSize: localShape?.[2] ?? globalShape[2]!,
    studentTemp: num(config, 'student_temp', 0.1),
    centering,
    centerMomentum: num(config, 'center_momentum', 0.9),
    dinoLossWeight: num(config, 'dino_loss_weight', 1),
    ibotLossWeight: num(config, 'ibot_loss_weight', 1),
    koleoLossWeight: num(config, 'koleo_loss_weight', 0.1),
  };
  const optim: SslOptimConfig = {
    clipGrad: num(config, 'clip_grad', 3),
    layerwiseDecay: num(config, 'layerwise_decay', 0.9),
    patchEmbedLrMult: num(config, 'patch_embed_lr_mult', 0.2),
    beta1: betas[0]!,
    beta2: betas[1]!,
    eps: num(config, 'adamw_eps', 1e-8),
  };
  const lr = num(config, 'lr');
  const hyper: SslStepHyper = {
    lr,
    wd: num(config, 'weight_decay'),
    lastLayerLr: num(config, 'last_layer_lr', lr),
    teacherTemp: num(config, 'teacher_temp'),
    teacherMomentum: num(config, 'teacher_momentum'),
  };
  return { cfg, optim, hyper };
}

async function batchOf(f: CaseFile, prefix: string): Promise<SslBatch> {
  const masks = await f.bool(`${prefix}masks`);
  return {
    globalCrops: await f.float32(`${prefix}global_crops`),
    ...(f.has(`${prefix}local_crops`) ? { localCrops: await f.float32(`${prefix}local_crops`) } : {}),
    masks,
  };
}

/** Named comparisons; the verdict reports the tensor with the largest error. */
class Checks {
  readonly list: { name: string; c: Comparison }[] = [];
  constructor(
    private readonly atol: number,
    private readonly rtol: number,
  ) {}

  tensor(name: string, actual: Tensor | Float32Array | undefined, expected: Tensor): void {
    if (!actual) {
      this.list.push({ name, c: { ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: not produced` } });
      return;
    }
    const a = actual instanceof Tensor ? actual : Tensor.float32(actual, expected.shape);
    this.list.push({ name, c: compareExpected(name, a, expected, this.atol, this.rtol) });
  }

  values(name: string, actual: readonly number[], expected: readonly number[]): void {
    this.list.push({ name, c: compareClose(name, actual, expected, this.atol, this.rtol) });
  }

  fail(name: string, detail: string): void {
    this.list.push({ name, c: { ok: false, maxAbsError: Infinity, firstBad: 0, detail } });
  }

  worst(): string {
    let w = this.list[0];
    for (const x of this.list) if (w && x.c.maxAbsError > w.c.maxAbsError) w = x;
    return w ? `worst: ${w.name} (${w.c.maxAbsError.toExponential(2)}) of ${this.list.length} checks` : 'nothing checked';
  }
}

export const trainSslStep: KindHandler = {
  kind: 'train.ssl_step',
  async run(manifest, c) {
    const config = (c['config'] ?? {}) as Json;
    const checks = new Checks(c.atol ?? 1e-4, c.rtol ?? 1e-3);
    return withCaseFile(join(manifest.dir, c.file), async (f) => {
      const first = await batchOf(f, 'input.');
      const { cfg, optim, hyper } = sslCaseSettings(config, first.globalCrops.shape, first.localCrops?.shape ?? null);
      // Weights by official key (`student.backbone.cls_token` → `backbone.cls_token`).
      const weights = async (prefix: string): Promise<Map<string, Float32Array>> => {
        const out = new Map<string, Float32Array>();
        for (const k of f.keys(prefix)) out.set(k.slice(prefix.length), (await f.float32(k)).data);
        return out;
      };
      const studentInit = await weights('student.');
      const teacherInit = await weights('teacher.');
      const store = createSslStore(
        cfg,
        optim,
        (k) => studentInit.get(k) ?? fail(`no student weight '${k}' in the case`),
        (k) => teacherInit.get(k) ?? fail(`no teacher weight '${k}' in the case`),
      );
      for (const k of studentInit.keys()) if (!store.has(k)) checks.fail(k, `the case has student weight '${k}', which the config does not create`);

      // The official parameter groups (the optimizer's view of every parameter).
      const groups = (config['param_groups'] ?? {}) as Record<string, { lr_multiplier: number; wd_multiplier: number; is_last_layer: boolean }>;
      for (const [name, e] of Object.entries(groups)) {
        if (!store.has(name)) {
          checks.fail(name, `param group entry '${name}' is not a parameter here`);
          continue;
        }
        const grp = store.groups[store.slot(name).group]!;
        if (grp.lrMultiplier !== e.lr_multiplier || grp.wdMultiplier !== e.wd_multiplier || grp.isLastLayer !== e.is_last_layer) {
          checks.fail(name, `param group of ${name}: lr×${grp.lrMultiplier} wd×${grp.wdMultiplier} last ${grp.isLastLayer}, official lr×${e.lr_multiplier} wd×${e.wd_multiplier} last ${e.is_last_layer}`);
        }
      }

      const trainer = new SslTrainer(cfg, store, { optim, returnIbotTargets: true });
      try {
        const steps = num(config, 'steps', 1);
        let result = await trainer.step(first, hyper);
        for (let s = 1; s < steps; s++) result = await trainer.step(await batchOf(f, `input.step${s}.`), hyper);

        for (const t of LOSS_TERMS) if (f.has(`expected.loss.${t}`)) checks.values(`loss.${t}`, [result.losses[t]], Array.from((await f.float32(`expected.loss.${t}`)).data));
        if (f.has('expected.teacher_dino_targets')) checks.tensor('teacher_dino_targets', result.teacherDinoTargets, await f.float32('expected.teacher_dino_targets'));
        if (f.has('expected.teacher_ibot_targets')) checks.tensor('teacher_ibot_targets', result.teacherIbotTargets, await f.float32('expected.teacher_ibot_targets'));
        const norms = (config['grad_norms_before_clip'] ?? {}) as Record<string, number>;
        for (const [module, n] of Object.entries(norms)) checks.values(`grad_norm.${module}`, [result.gradNorms.get(module) ?? NaN], [n]);
        const views: [string, (k: string) => Float32Array][] = [
          ['expected.grad.', (k) => store.gradOf(k)],
          ['expected.student_after.', (k) => store.param(k)],
          ['expected.teacher_after.', (k) => store.teacherParam(k)],
        ];
        for (const [prefix, view] of views) {
          for (const key of f.keys(prefix)) {
            const k = key.slice(prefix.length);
            checks.tensor(key.slice('expected.'.length), store.has(k) ? view(k) : undefined, await f.float32(key));
          }
        }
        for (const [key, buffer] of [
          ['expected.dino_center_after', DINO_CENTER],
          ['expected.ibot_center_after', IBOT_CENTER],
        ] as const) {
          if (f.has(key)) checks.tensor(key.slice('expected.'.length), store.buffers.get(buffer)?.data, await f.float32(key));
        }
      } finally {
        await trainer.dispose();
      }
      return [caseResult(c, checks.list.map((x) => x.c), { notes: [checks.worst()] })];
    });
  },
};

function fail(why: string): never {
  throw new Error(`train.ssl_step: ${why}`);
}
