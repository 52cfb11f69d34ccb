/**
 * The hand-off to the official trainer's checkpoint layout (model_XXXXXXX.rank_0.pth with model /
 * optimizer / iteration, last_checkpoint.rank_0):
 *  - always: one step here, export, import → the same state bit for bit, and the next step from the import
 *    equals the next step of the original run, bit for bit;
 *  - with Debian's python3-torch (skipped only when /usr/bin/python3 has no torch): torch.load reads the
 *    export, a torch AdamW over the same parameter groups accepts its optimizer state, and a checkpoint
 *    written by torch.save (changed there) imports with those changes;
 *  - opt-in with DINOV2_REPO (a checkout of facebookresearch/dinov2): one step here, export, one step of
 *    the OFFICIAL SSLMetaArch + AdamW + EMA on it (tools/official_handoff/step_official.py), import →
 *    equal to two steps here within the train.ssl_step tolerances (atol 1e-4, rtol 1e-3).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import { Tensor } from '../../../src/core/tensor.js';
import { writePth } from '../../../src/formats/pthWriter.js';
import { PthFile } from '../../../src/formats/pth.js';
import { DEFAULT_CONFIG, type BackboneConfig } from '../../../src/models/config.js';
import type { ParamStore } from '../../../src/train/optim/paramStore.js';
import { exportOfficialCheckpoint, importOfficialCheckpoint, officialConfigYaml } from '../../../src/train/ssl/officialCheckpoint.js';
import type { SslConfig, SslStepHyper } from '../../../src/train/ssl/sslConfig.js';
import { createSslStore, OFFICIAL_OPTIM, SslTrainer, type SslBatch } from '../../../src/train/ssl/sslStep.js';
import { REPO_ROOT, withTempDir } from '../../helpers.js';

// No qkv bias: the key bias's gradient is pure rounding noise (softmax ignores a per-query constant), which
// AdamW turns into ±lr-sized updates — noise against noise across implementations (as in make_ssl_step.py).
const backbone: BackboneConfig = { ...DEFAULT_CONFIG, img_size: 42, patch_size: 14, embed_dim: 32, depth: 2, num_heads: 2, mlp_ratio: 2, qkv_bias: false, proj_bias: true, ffn_bias: true, init_values: 1, ffn_layer: 'mlp', num_register_tokens: 0, interpolate_antialias: false, interpolate_offset: 0.1 };
const cfg: SslConfig = {
  backbone,
  dinoHead: { outDim: 24, hiddenDim: 20, bottleneckDim: 12, nlayers: 3 },
  ibotHead: null,
  nImages: 2,
  localCropsNumber: 2,
  globalCropsSize: 42,
  localCropsSize: 28,
  studentTemp: 0.1,
  centering: 'centering',
  centerMomentum: 0.9,
  dinoLossWeight: 1,
  ibotLossWeight: 1,
  koleoLossWeight: 0.1,
  dropPathRate: 0,
};
const optim = { ...OFFICIAL_OPTIM, layerwiseDecay: 0.8, patchEmbedLrMult: 0.2, clipGrad: 3 };
const HYPER1: SslStepHyper = { lr: 2e-3, wd: 0.04, lastLayerLr: 1e-3, teacherTemp: 0.06, teacherMomentum: 0.98 };
const HYPER2: SslStepHyper = { lr: 1.5e-3, wd: 0.05, lastLayerLr: 5e-4, teacherTemp: 0.07, teacherMomentum: 0.99 };

function randomStore(seed: number): ParamStore {
  const g = new Rng(seed);
  const n = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
  const init = (key: string, shape: readonly number[]): Float32Array => {
    if (key.endsWith('weight_g') || (key.includes('norm') && key.endsWith('weight')) || key.endsWith('gamma')) return Float32Array.from({ length: n(shape) }, () => 1 + 0.1 * g.normal());
    if (shape.length >= 2 && !/token|pos_embed/.test(key)) return Float32Array.from({ length: n(shape) }, () => g.normal() / Math.sqrt(shape[shape.length - 1]!));
    return Float32Array.from({ length: n(shape) }, () => 0.2 * g.normal());
  };
  const student = new Map<string, Float32Array>();
  return createSslStore(cfg, optim, (k, s) => {
    const v = init(k, s);
    student.set(k, v);
    return v;
  }, (k) => student.get(k)!.map((v) => v + 0.01 * g.normal()));
}

function batch(seed: number): SslBatch {
  const g = new Rng(seed);
  const N = (42 / 14) ** 2;
  const masks = new Uint8Array(2 * cfg.nImages * N);
  // The first image's two global crops have a few masked patches, as collate_data_and_cast masks a share of the batch.
  for (const row of [0, 2]) for (const p of [1, 4, 7]) masks[row * N + ((p + seed) % N)] = 1;
  const randn = (shape: number[]) => Tensor.float32(Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => g.normal()), shape);
  return { globalCrops: randn([2 * cfg.nImages, 3, 42, 42]), localCrops: randn([cfg.localCropsNumber * cfg.nImages, 3, 28, 28]), masks: new Tensor('uint8', masks, [2 * cfg.nImages, N]) };
}

function assertSameStore(a: ParamStore, b: ParamStore, close?: { atol: number; rtol: number }): void {
  assert.equal(b.iteration, a.iteration);
  assert.deepEqual(b.slots.map((s) => s.name), a.slots.map((s) => s.name));
  const cmp = (x: Float32Array, y: Float32Array, what: string) => {
    if (!close) return assert.deepEqual(y, x, what);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= close.atol + close.rtol * Math.abs(x[i]!), `${what}[${i}]: ${y[i]} vs ${x[i]}`);
  };
  for (const s of a.slots) {
    cmp(a.param(s.name), b.param(s.name), `student ${s.name}`);
    cmp(a.teacherParam(s.name), b.teacherParam(s.name), `teacher ${s.name}`);
    cmp(a.expAvgOf(s.name), b.expAvgOf(s.name), `exp_avg ${s.name}`);
    cmp(a.expAvgSqOf(s.name), b.expAvgSqOf(s.name), `exp_avg_sq ${s.name}`);
  }
  assert.deepEqual(Array.from(b.steps), Array.from(a.steps));
  for (const [name, buf] of a.buffers) cmp(buf.data, b.buffer(name).data, name);
}

test('export → import is the same state bit for bit, and the next step from it equals the next step of the run', async () => {
  await withTempDir(async (dir) => {
    const a = new SslTrainer(cfg, randomStore(1), { optim });
    let b: SslTrainer | undefined;
    try {
      await a.step(batch(1), HYPER1);
      const { file, iteration } = await exportOfficialCheckpoint(dir, cfg, a.store, { optim, hyper: HYPER1 });
      assert.equal(iteration, 0);
      assert.equal(file, join(dir, 'model_0000000.rank_0.pth'));
      assert.equal(await readFile(join(dir, 'last_checkpoint.rank_0'), 'utf8'), 'model_0000000.rank_0.pth');
      const pth = await PthFile.open(file);
      try {
        const keys = pth.keys();
        assert.equal(keys[0], 'model.dino_loss.center');
        assert.equal(keys[1], 'model.ibot_patch_loss.center');
        assert.ok(keys.includes('model.student.backbone.blocks.1.ls2.gamma') && keys.includes('model.teacher.dino_head.last_layer.weight_g'));
        assert.ok(keys.includes('optimizer.state.0.exp_avg') && keys.includes('optimizer.state.0.step'));
        const tree = pth.tree as Map<string, unknown>;
        assert.equal(tree.get('iteration'), 0);
        const groups = (tree.get('optimizer') as Map<string, unknown>).get('param_groups') as Map<string, unknown>[];
        assert.equal(groups.length, a.store.groups.length);
        assert.deepEqual(groups.map((g) => (g.get('params') as number[]).length), a.store.groups.map((g) => g.params.length));
      } finally {
        await pth.close();
      }
      const imported = await importOfficialCheckpoint(dir, cfg, optim);
      assertSameStore(a.store, imported);
      b = new SslTrainer(cfg, imported, { optim });
      await a.step(batch(2), HYPER2);
      await b.step(batch(2), HYPER2);
      assertSameStore(a.store, b.store);
      // A configuration with other parameter groups is refused with the reason.
      await assert.rejects(importOfficialCheckpoint(file, cfg, { ...optim, layerwiseDecay: 0.9 }), /optimizer group 0 is/);
      await assert.rejects(importOfficialCheckpoint(file, { ...cfg, dinoHead: { ...cfg.dinoHead, outDim: 30 } }, optim), /is \[24, 1\], the configuration needs \[30, 1\]/);
    } finally {
      await a.dispose();
      await b?.dispose();
    }
  });
});

const PY = '/usr/bin/python3';
const torchMissing = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0 ? `${PY} with torch is not installed (apt-get install python3-torch)` : undefined;

test('torch reads the export (model, AdamW state over the same groups, iteration) and a torch.save checkpoint imports', { skip: torchMissing, timeout: 120000 }, async () => {
  await withTempDir(async (dir) => {
    const a = new SslTrainer(cfg, randomStore(3), { optim });
    try {
      await a.step(batch(3), HYPER1);
      const { file } = await exportOfficialCheckpoint(join(dir, 'ours'), cfg, a.store, { optim, hyper: HYPER1 });
      const script = `
import sys, torch
# (fvcore loads with the default torch.load; torch 1.13's weights_only unpickler has no BINFLOAT, which
# every optimizer state needs for its floats, torch.save's own files included)
ck = torch.load(sys.argv[1], map_location="cpu")
assert sorted(ck.keys()) == ["iteration", "model", "optimizer"], ck.keys()
assert ck["iteration"] == 0
model = ck["model"]
groups = ck["optimizer"]["param_groups"]
# A torch AdamW over tensors shaped as the state's, grouped as the checkpoint says, accepts the state.
params = [[torch.nn.Parameter(torch.zeros_like(ck["optimizer"]["state"][i]["exp_avg"])) for i in g["params"]] for g in groups]
opt = torch.optim.AdamW([{"params": p, "lr_multiplier": g["lr_multiplier"], "wd_multiplier": g["wd_multiplier"], "is_last_layer": g["is_last_layer"]} for p, g in zip(params, groups)], betas=(0.9, 0.999))
opt.load_state_dict(ck["optimizer"])
st = opt.state_dict()["state"]
assert all(float(st[i]["step"]) == 1.0 for i in st), "steps"
assert isinstance(groups[0]["lr"], float) and isinstance(groups[0]["betas"], tuple) and groups[0]["amsgrad"] is False
assert model["student.backbone.cls_token"].shape == (1, 1, 32) and model["dino_loss.center"].shape == (1, 24)
# Written back by torch: iteration + 1, exp_avg doubled, the teacher's cls token set to 0.5.
for i in ck["optimizer"]["state"]:
    ck["optimizer"]["state"][i]["exp_avg"] *= 2
    ck["optimizer"]["state"][i]["step"] += 1
model["teacher.backbone.cls_token"].fill_(0.5)
ck["iteration"] = 41
torch.save(ck, sys.argv[2] + "/model_0000041.rank_0.pth")
open(sys.argv[2] + "/last_checkpoint.rank_0", "w").write("model_0000041.rank_0.pth")
print("ok", len(groups), len(st))
`;
      await writeFile(join(dir, 'check.py'), script);
      const r = spawnSync(PY, [join(dir, 'check.py'), file, dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^ok \d+ \d+/);
      const back = await importOfficialCheckpoint(dir, cfg, optim);
      assert.equal(back.iteration, 42);
      for (const s of a.store.slots) {
        assert.deepEqual(back.expAvgOf(s.name), a.store.expAvgOf(s.name).map((v) => v * 2), s.name);
        assert.deepEqual(back.param(s.name), a.store.param(s.name), s.name);
        assert.equal(back.stepOf(s.name), 2);
      }
      assert.deepEqual(Array.from(back.teacherParam('backbone.cls_token')), new Array(32).fill(0.5));
    } finally {
      await a.dispose();
    }
  });
});

const REPO = process.env['DINOV2_REPO'];
const officialSkip = torchMissing ?? (REPO ? undefined : 'opt-in: set DINOV2_REPO to a checkout of facebookresearch/dinov2');

test('one step here, export, one OFFICIAL step, import = two steps here (train.ssl_step tolerances)', { skip: officialSkip, timeout: 300000 }, async () => {
  await withTempDir(async (dir) => {
    const a = new SslTrainer(cfg, randomStore(5), { optim });
    try {
      await a.step(batch(5), HYPER1);
      const { file } = await exportOfficialCheckpoint(join(dir, 'ours'), cfg, a.store, { optim, hyper: HYPER1 });
      const b2 = batch(6);
      await writePth(join(dir, 'batch.pth'), [
        { key: 'global_crops', dtype: 'F32', shape: b2.globalCrops.shape, data: b2.globalCrops.data },
        { key: 'local_crops', dtype: 'F32', shape: b2.localCrops!.shape, data: b2.localCrops!.data },
        { key: 'masks', dtype: 'U8', shape: b2.masks.shape, data: b2.masks.data as Uint8Array },
      ]);
      const c = {
        backbone: { img_size: 42, patch_size: 14, embed_dim: 32, depth: 2, num_heads: 2, mlp_ratio: 2.0, qkv_bias: false, proj_bias: true, ffn_bias: true, init_values: 1.0, ffn_layer: 'mlp', num_register_tokens: 0, interpolate_antialias: false, interpolate_offset: 0.1 },
        dino_head: { out_dim: 24, hidden_dim: 20, bottleneck_dim: 12, nlayers: 3 },
        ibot_separate_head: false,
        centering: 'centering',
        n_local_crops: 2,
        local_size: 28,
        dino_loss_weight: 1.0,
        ibot_loss_weight: 1.0,
        koleo_loss_weight: 0.1,
        layerwise_decay: 0.8,
        patch_embed_lr_mult: 0.2,
        clip_grad: 3.0,
        lr: HYPER2.lr,
        weight_decay: HYPER2.wd,
        last_layer_lr: HYPER2.lastLayerLr,
        teacher_temp: HYPER2.teacherTemp,
        teacher_momentum: HYPER2.teacherMomentum,
      };
      await writeFile(join(dir, 'case.json'), JSON.stringify(c));
      const r = spawnSync(PY, [join(REPO_ROOT, 'tools', 'official_handoff', 'step_official.py'), join(dir, 'case.json'), file, join(dir, 'batch.pth'), join(dir, 'official')], { encoding: 'utf8', env: { ...process.env, DINOV2_REPO: REPO } });
      assert.equal(r.status, 0, r.stderr.slice(-3000));
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      assert.deepEqual([out.missing, out.unexpected], [[], []]);
      const official = await importOfficialCheckpoint(join(dir, 'official'), cfg, optim);
      await a.step(b2, HYPER2);
      assertSameStore(a.store, official, { atol: 1e-4, rtol: 1e-3 });
    } finally {
      await a.dispose();
    }
  });
});

test('officialConfigYaml: the official names and a base_lr that the sqrt_wrt_1024 rule turns into this run\'s lr', () => {
  const vits: BackboneConfig = { ...DEFAULT_CONFIG, embed_dim: 384, depth: 12, num_heads: 6, mlp_ratio: 4, init_values: 1e-5, patch_size: 14, ffn_layer: 'mlp', num_register_tokens: 4, interpolate_antialias: true, interpolate_offset: 0 };
  const run: SslConfig = { ...cfg, backbone: vits, nImages: 32, dinoHead: { outDim: 65536, hiddenDim: 2048, bottleneckDim: 256, nlayers: 3 } };
  const schedule = { lr: 0.004 * Math.sqrt(32 / 1024), minLr: 1e-6, warmupEpochs: 10, weightDecay: 0.04, weightDecayEnd: 0.4, momentumTeacher: 0.992, finalMomentumTeacher: 1, teacherTemp: 0.07, warmupTeacherTemp: 0.04, warmupTeacherTempEpochs: 30, freezeLastLayerEpochs: 1, epochs: 100, epochLength: 1250 };
  for (const worldSize of [1, 8]) {
    const y = officialConfigYaml({ cfg: run, schedule, optim: OFFICIAL_OPTIM, worldSize, datasetPath: 'ImageNet22k:root=/d:extra=/d/extra' });
    for (const line of ['  arch: vit_small', '  patch_size: 14', '  num_register_tokens: 4', '  layerscale: 0.00001', '  min_lr: 0.000001', '  head_n_prototypes: 65536', '  batch_size_per_gpu: 32', '  OFFICIAL_EPOCH_LENGTH: 1250', '  centering: centering', '  dataset_path: "ImageNet22k:root=/d:extra=/d/extra"', '  layerwise_decay: 0.9', '  block_chunks: 0']) {
      assert.ok(y.split('\n').includes(line), `${line} in\n${y}`);
    }
    const baseLr = Number(/  base_lr: (.*)/.exec(y)![1]);
    const official = baseLr * Math.sqrt((32 * worldSize) / 1024);
    assert.ok(Math.abs(official - schedule.lr) <= 1e-15, `${official} vs ${schedule.lr}`);
  }
  assert.throws(() => officialConfigYaml({ cfg, schedule, optim: OFFICIAL_OPTIM }), /not one of the official architectures/);
  // PyYAML (what OmegaConf builds on) reads every number as the type the official config has.
  if (spawnSync(PY, ['-c', 'import yaml'], { encoding: 'utf8' }).status === 0) {
    const y = officialConfigYaml({ cfg: run, schedule: { ...schedule, minLr: 1e-7 }, optim: OFFICIAL_OPTIM });
    const r = spawnSync(PY, ['-c', 'import sys, yaml, json; c = yaml.safe_load(sys.stdin.read()); print(json.dumps([type(c["optim"]["min_lr"]).__name__, c["optim"]["min_lr"], type(c["optim"]["base_lr"]).__name__, type(c["student"]["layerscale"]).__name__, c["student"]["qkv_bias"], c["train"]["batch_size_per_gpu"]]))'], { input: y, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['float', 1e-7, 'float', 'float', true, 32]);
  }
});
