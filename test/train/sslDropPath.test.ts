/**
 * Student stochastic depth in the training step: rate 0 leaves the step graph as it was; a block with a
 * subset plan matches the official `drop_add_residual_stochastic_depth` (torch.randperm replaced by the
 * plan); gradients through dropped blocks are finite, vanish where a branch never saw the rows, and agree
 * with finite differences of the step loss under a fixed plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TINY_SSL, tinySslBatch, tinySslStore } from './tinySsl.js';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gradients } from '../../src/graph/autodiff.js';
import { GraphBuilder, type Sym } from '../../src/graph/builder.js';
import { encodeOnnx } from '../../src/graph/onnx.js';
import { compileGraph } from '../../src/graph/runtime.js';
import { block } from '../../src/models/layers/block.js';
import { makeScope } from '../../src/models/layers/params.js';
import { makeConfig, type BackboneConfig } from '../../src/models/config.js';
import { backboneStateDictShapes } from '../../src/models/stateDictShapes.js';
import { Tensor } from '../../src/core/tensor.js';
import { addResidualOnSubset, planDropPath, sampleSubset, subsetInputs, type SubsetDecision } from '../../src/train/ssl/dropPath.js';
import type { ParamStore } from '../../src/train/optim/paramStore.js';
import type { SslConfig } from '../../src/train/ssl/sslConfig.js';
import { SSL_IO, buildSslStepGraph } from '../../src/train/ssl/sslMetaArch.js';
import { OFFICIAL_OPTIM, SslTrainer, type SslBatch } from '../../src/train/ssl/sslStep.js';
import { studentParamShapes } from '../../src/train/ssl/sslConfig.js';
import { Rng } from '../../src/core/rng.js';
import { maxAbsDiff, withTempDir } from '../helpers.js';
import { findTorchPython } from '../formats/helpers.js';

// ---------------------------------------------------------------------------------------------------
// The step graph.

const CFG = TINY_SSL;
const randomStore = (cfg: SslConfig): ParamStore => tinySslStore(cfg);
const batch = (seed: number): SslBatch => tinySslBatch(seed, [0, 3, 9, 14]);

const dropInputs = (cfg: SslConfig) =>
  buildSslStepGraph(cfg, studentParamShapes(cfg))
    .inputs.map((i) => i.name)
    .filter((n) => n.startsWith('drop_path.'));

test('drop path rate 0: the step graph is byte-identical to the one without the setting, and so are its results', async () => {
  const shapes = studentParamShapes(CFG);
  const base = await encodeOnnx(buildSslStepGraph(CFG, shapes));
  for (const extra of [{ dropPathRate: 0 }, { dropPathRate: 0, dropPathUniform: false }]) {
    assert.deepEqual(await encodeOnnx(buildSslStepGraph({ ...CFG, ...extra }, shapes)), base, JSON.stringify(extra));
  }
  assert.deepEqual(dropInputs({ ...CFG, dropPathRate: 0 }), []);

  const b = batch(1);
  const runs: { losses: Record<string, number>; grads: Float32Array[] }[] = [];
  for (const cfg of [CFG, { ...CFG, dropPathRate: 0 }]) {
    const trainer = new SslTrainer(cfg, randomStore(cfg), { optim: OFFICIAL_OPTIM, dropPathSeed: 3 });
    const rng0 = JSON.stringify(trainer.dropPathRng.getState());
    try {
      const r = await trainer.forwardBackward(b, 0.07);
      assert.equal(trainer.lastDropPlan, null);
      assert.equal(JSON.stringify(trainer.dropPathRng.getState()), rng0, 'no draws when drop path is off');
      runs.push({ losses: r.losses, grads: trainer.store.slots.map((s) => Float32Array.from(trainer.store.gradOf(s.name))) });
    } finally {
      await trainer.dispose();
    }
  }
  assert.deepEqual(runs[1]!.losses, runs[0]!.losses);
  runs[0]!.grads.forEach((g, i) => assert.deepEqual(runs[1]!.grads[i], g));
});

test('drop path inputs: one subset per block with rate > 0, residual branch and crop set; linspace rates skip block 0', () => {
  const names = (block: number) =>
    (['attn', 'ffn'] as const).flatMap((br) => (['global', 'local'] as const).flatMap((s) => (['indices', 'inverse', 'scale'] as const).map((p) => SSL_IO.dropPath(block, br, s, p))));
  assert.deepEqual(new Set(dropInputs({ ...CFG, dropPathRate: 0.4 })), new Set([...names(0), ...names(1)]));
  assert.deepEqual(new Set(dropInputs({ ...CFG, dropPathRate: 0.4, dropPathUniform: false })), new Set(names(1)));
  const ir = buildSslStepGraph({ ...CFG, dropPathRate: 0.4 }, studentParamShapes(CFG));
  const idx = ir.inputs.find((i) => i.name === SSL_IO.dropPath(0, 'attn', 'global', 'indices'))!;
  assert.deepEqual([idx.dtype, idx.shape], ['int64', [2]]); // max(int(4 · 0.6), 1)
  assert.ok(!ir.inputs.some((i) => i.name.startsWith('drop_path.') && /teacher/.test(i.name)));
});

test('drop path 0.4 in the step: the trainer draws the official-order plan, gradients are finite and match finite differences', async () => {
  const cfg: SslConfig = { ...CFG, dropPathRate: 0.4 };
  const store = randomStore(cfg);
  const trainer = new SslTrainer(cfg, store, { optim: OFFICIAL_OPTIM, dropPathSeed: 11 });
  try {
    const b = batch(2);
    const drawn = await trainer.forwardBackward(b, 0.07);
    const plan = trainer.lastDropPlan!;
    assert.deepEqual(plan, planDropPath(new Rng(11), { rates: [0.4, 0.4], batchSizes: [4, 4] }));
    const again = await trainer.forwardBackward(b, 0.07, plan);
    assert.deepEqual(again.losses, drawn.losses, 'replaying the plan gives the same step');
    const other = await trainer.forwardBackward(b, 0.07);
    assert.notDeepEqual(trainer.lastDropPlan, plan, 'the next step draws anew');
    assert.notEqual(other.losses.total, drawn.losses.total);

    // Fixed plan: gradients, then the directional derivative of the loss along each tensor's gradient.
    await trainer.forwardBackward(b, 0.07, plan);
    for (const s of store.slots) assert.ok(store.gradOf(s.name).every(Number.isFinite), s.name);
    const grads = new Map(store.slots.map((s) => [s.name, Float32Array.from(store.gradOf(s.name))]));
    // Tensors of both dropped blocks and of both branches (LayerScale included), and one below them.
    const keys = ['backbone.patch_embed.proj.weight', 'backbone.blocks.0.attn.qkv.weight', 'backbone.blocks.0.ls2.gamma', 'backbone.blocks.1.norm1.weight', 'backbone.blocks.1.mlp.fc1.weight'];
    for (const key of keys) {
      const grad = grads.get(key)!;
      const norm2 = grad.reduce((s, v) => s + v * v, 0);
      assert.ok(norm2 > 1e-10, `${key}: gradient is non-zero`);
      const base = Float32Array.from(store.param(key));
      const lossAt = async (t: number): Promise<number> => {
        store.param(key).set(base.map((v, i) => v + t * grad[i]!));
        const r = await trainer.forwardBackward(b, 0.07, plan);
        return r.losses.total;
      };
      const h = 1e-2 / Math.sqrt(norm2);
      const central = async (s: number) => ((await lossAt(s)) - (await lossAt(-s))) / (2 * s);
      const fd = (4 * (await central(h / 2)) - (await central(h))) / 3;
      store.param(key).set(base);
      assert.ok(Math.abs(fd - norm2) <= 2e-3 * norm2, `${key}: finite difference ${fd} vs |grad|² ${norm2}`);
    }
  } finally {
    await trainer.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------
// One block with a subset plan.

const BCFG: BackboneConfig = makeConfig({ img_size: 28, patch_size: 14, embed_dim: 16, depth: 1, num_heads: 2, init_values: 0.5 });
const [B, N, D] = [4, 5, BCFG.embed_dim];

function blockParams(): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(5);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [key, shape] of backboneStateDictShapes(BCFG)) {
    if (!key.startsWith('blocks.0.')) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, () => (/(norm\d\.weight|gamma)$/.test(key) ? 1 : 0) + 0.3 * rng.normal());
    out.set(key.slice('blocks.0.'.length), { shape, data });
  }
  return out;
}

function subset(indices: number[]): SubsetDecision {
  const inverse = new Array<number>(B).fill(0);
  indices.forEach((b, k) => (inverse[b] = k + 1));
  return { kind: 'subset', batch: B, indices, inverse, scale: B / indices.length };
}

/** y = block(x) with both branches on subsets, and the gradient of Σ cot·y for every block parameter. */
async function runBlock(params: ReturnType<typeof blockParams>, x: Float32Array, plan: { attn: SubsetDecision; ffn: SubsetDecision }, cot: Float32Array) {
  const g = new GraphBuilder('block_drop');
  const cache = new Map<string, Sym>();
  const p = makeScope((key) => {
    const v = params.get(key);
    if (!v) return null;
    if (!cache.has(key)) cache.set(key, g.input(`p.${key}`, 'float32', v.shape));
    return cache.get(key)!;
  });
  const xs = g.input('x', 'float32', [B, N, D]);
  const y = block(xs, p, {
    numHeads: BCFG.num_heads,
    swiglu: false,
    eps: BCFG.layer_norm_eps,
    residual: (v, f, branch) => {
      const d = plan[branch];
      return addResidualOnSubset(v, f, g.input(`${branch}.indices`, 'int64', [d.indices.length]), g.input(`${branch}.inverse`, 'int64', [B]), g.input(`${branch}.scale`, 'float32', [1]));
    },
  });
  g.output('y', y);
  const keys = [...params.keys()];
  const grads = gradients(g, [{ value: y, grad: g.input('cot', 'float32', [B, N, D]) }], keys.map((k) => `p.${k}`));
  keys.forEach((k) => g.output(`grad.${k}`, grads.get(`p.${k}`)!));
  const feeds: Record<string, Tensor> = { x: Tensor.float32(x, [B, N, D]), cot: Tensor.float32(cot, [B, N, D]) };
  for (const [k, v] of params) feeds[`p.${k}`] = Tensor.float32(v.data, v.shape);
  for (const branch of ['attn', 'ffn'] as const) {
    const t = subsetInputs(plan[branch]);
    Object.assign(feeds, { [`${branch}.indices`]: t.indices, [`${branch}.inverse`]: t.inverse, [`${branch}.scale`]: t.scale });
  }
  const compiled = await compileGraph(g.build());
  try {
    const out = await compiled.run(feeds);
    const grad = new Map(keys.map((k) => [k, out[`grad.${k}`]!.data as Float32Array]));
    return { y: out['y']!.data as Float32Array, grad };
  } finally {
    await compiled.dispose();
  }
}

const X = Float32Array.from({ length: B * N * D }, (_, i) => Math.sin(0.7 * i + 0.3));

const officialRepo = process.env['DINOV2_REPO'] ?? '/tmp/dinov2-official';
const python = existsSync(join(officialRepo, 'dinov2', 'layers', 'block.py')) ? findTorchPython() : null;

const PY = `
import functools, json, sys
import torch
import torch.nn.functional as F
if not hasattr(F, 'scaled_dot_product_attention'):  # torch < 2.0: the plain softmax attention it computes
    def _attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        assert attn_mask is None and not is_causal
        return torch.softmax((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1) @ v
    F.scaled_dot_product_attention = _attention
sys.path.insert(0, sys.argv[2])
from dinov2.layers.block import Block
from dinov2.layers.mlp import Mlp
d = json.load(open(sys.argv[1]))
blk = Block(d['dim'], d['heads'], mlp_ratio=d['mlp_ratio'], qkv_bias=True, proj_bias=True, ffn_bias=True, init_values=1.0,
            drop_path=d['rate'], norm_layer=functools.partial(torch.nn.LayerNorm, eps=d['eps']), ffn_layer=Mlp)
blk.load_state_dict({k: torch.tensor(v['data'], dtype=torch.float32).reshape(v['shape']) for k, v in d['params'].items()})
blk.train()
perms = list(d['perms'])
def randperm(n, device=None, **kw):
    p = perms.pop(0)
    assert len(p) == n
    return torch.tensor(p, dtype=torch.int64, device=device)
torch.randperm = randperm
x = torch.tensor(d['x'], dtype=torch.float32).reshape(d['shape'])
with torch.no_grad():
    y = blk(x)
assert not perms, 'both residual branches draw a permutation'
print(json.dumps(y.flatten().tolist()))
`;

test('a block with subset plans (rate 0.4) matches the official drop_add_residual_stochastic_depth with randperm fixed to the plan', { skip: python ? false : 'needs torch and the official code (DINOV2_REPO)' }, async () => {
  const params = blockParams();
  const rng = new Rng(21);
  const plan = { attn: sampleSubset(rng, B, 0.4), ffn: sampleSubset(rng, B, 0.4) };
  assert.equal(plan.attn.indices.length, 2);
  const ours = await runBlock(params, X, plan, new Float32Array(B * N * D));
  // The official code draws randperm(B) and keeps its first S entries: a full permutation starting with the plan.
  const perm = (d: SubsetDecision) => [...d.indices, ...Array.from({ length: B }, (_, i) => i).filter((i) => !d.indices.includes(i))];
  await withTempDir(async (dir) => {
    const file = join(dir, 'case.json');
    const json = {
      dim: D,
      heads: BCFG.num_heads,
      mlp_ratio: BCFG.mlp_ratio,
      eps: BCFG.layer_norm_eps,
      rate: 0.4,
      perms: [perm(plan.attn), perm(plan.ffn)],
      x: [...X],
      shape: [B, N, D],
      params: Object.fromEntries([...params].map(([k, v]) => [k, { shape: v.shape, data: [...v.data] }])),
    };
    writeFileSync(file, JSON.stringify(json));
    const r = spawnSync(python!, ['-c', PY, file, officialRepo], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, XFORMERS_DISABLED: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as number[];
    const err = maxAbsDiff(ours.y, theirs);
    assert.ok(err < 1e-5, `max |ours − official| = ${err}`);
    // The dropped rows really differ from a no-drop block (the plan is in effect).
    assert.ok(maxAbsDiff(ours.y, X) > 1e-2);
  });
});

test('block gradients with a subset plan: zero for a branch on rows it skipped, non-zero otherwise, finite everywhere', async () => {
  const params = blockParams();
  // attn keeps rows {2, 0} (skips 1, 3); ffn keeps {1, 2} (skips 0, 3).
  const plan = { attn: subset([2, 0]), ffn: subset([1, 2]) };
  const attnKeys = [...params.keys()].filter((k) => /^(norm1|attn|ls1)\./.test(k));
  const ffnKeys = [...params.keys()].filter((k) => /^(norm2|mlp|ls2)\./.test(k));
  assert.equal(attnKeys.length + ffnKeys.length, params.size);
  const cotOn = (rows: number[]) => Float32Array.from({ length: B * N * D }, (_, i) => (rows.includes(Math.floor(i / (N * D))) ? Math.cos(1.3 * i) : 0));
  const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  // Rows 1 and 3 never went through the attention branch: its parameters get exactly no gradient from them.
  const a = await runBlock(params, X, plan, cotOn([1, 3]));
  for (const k of attnKeys) assert.equal(maxAbs(a.grad.get(k)!), 0, `${k}: gradient from rows the attention skipped`);
  assert.ok(maxAbs(a.grad.get('mlp.fc1.weight')!) > 1e-4, 'row 1 went through the MLP');

  // Rows 0 and 3 never went through the MLP branch.
  const f = await runBlock(params, X, plan, cotOn([0, 3]));
  for (const k of ffnKeys) assert.equal(maxAbs(f.grad.get(k)!), 0, `${k}: gradient from rows the MLP skipped`);
  assert.ok(maxAbs(f.grad.get('attn.qkv.weight')!) > 1e-4, 'row 0 went through the attention');

  // All rows: every gradient finite and non-zero; row 3 (skipped by both) passes through unchanged.
  const all = await runBlock(params, X, plan, cotOn([0, 1, 2, 3]));
  for (const [k, v] of all.grad) assert.ok(v.every(Number.isFinite) && maxAbs(v) > 0, k);
  assert.deepEqual(all.y.subarray(3 * N * D), X.subarray(3 * N * D));
});
