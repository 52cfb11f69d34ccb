import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdamW } from '../../src/train/optim/adamw.js';
import { GradClipper, clipScale } from '../../src/train/optim/clipGradNorm.js';
import { ParamStore, type ParamInit } from '../../src/train/optim/paramStore.js';
import { Rng } from '../../src/core/rng.js';
import { findTorchPython, runPython, tempDir } from '../formats/helpers.js';

const f = Math.fround;
const GROUP_OPTIONS = { layerwiseDecay: 0.9, patchEmbedLrMult: 0.2 };

function params(): ParamInit[] {
  const shapes: [string, number[]][] = [
    ['backbone.cls_token', [1, 1, 16]],
    ['backbone.patch_embed.proj.weight', [16, 3, 2, 2]],
    ['backbone.blocks.0.norm1.weight', [16]],
    ['backbone.blocks.0.attn.qkv.weight', [48, 16]],
    ['backbone.blocks.0.attn.qkv.bias', [48]],
    ['backbone.blocks.1.mlp.fc1.weight', [64, 16]],
    ['backbone.norm.weight', [16]],
    ['dino_head.mlp.0.weight', [32, 16]],
    ['dino_head.last_layer.weight_v', [20, 32]],
    ['ibot_head.mlp.0.weight', [32, 16]],
    ['ibot_head.last_layer.weight_v', [20, 32]],
  ];
  return shapes.map(([name, shape]) => ({ name, shape }));
}

/** Gradients with a different magnitude per module: backbone clipped hard, dino_head a little, ibot_head not. */
function fillGrads(store: ParamStore, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const scale: Record<string, number> = { backbone: 1, dino_head: 0.12, ibot_head: 0.01 };
  const out = new Map<string, Float32Array>();
  for (const s of store.slots) {
    const g = Float32Array.from({ length: s.size }, () => rng.normal() * scale[s.module]!);
    store.setGrad(s.name, g);
    out.set(s.name, g);
  }
  return out;
}

test('per-parameter norms and module totals agree with float64 sums', async () => {
  const store = ParamStore.create(params(), { groups: GROUP_OPTIONS, maxChunkElements: 700 });
  assert.ok(store.chunks.length > 2);
  const grads = fillGrads(store, 1);
  const clipper = new GradClipper(store);
  try {
    const norms = await clipper.paramNorms();
    for (const [name, g] of grads) {
      let s = 0;
      for (const x of g) s += x * x;
      const want = Math.sqrt(s);
      assert.ok(Math.abs(norms.get(name)! - want) <= 1e-6 * want, `${name}: ${norms.get(name)} vs ${want}`);
    }
    const { totalNorms, scales } = await clipper.compute(3.0);
    for (const module of ['backbone', 'dino_head', 'ibot_head']) {
      let s = 0;
      for (const [name, g] of grads) if (name.startsWith(`${module}.`)) for (const x of g) s += x * x;
      const total = Math.sqrt(s);
      assert.ok(Math.abs(totalNorms.get(module)! - total) <= 1e-6 * total, `${module}: ${totalNorms.get(module)} vs ${total}`);
      const coef = 3 / (total + 1e-6);
      assert.ok(Math.abs(scales.get(module)! - Math.min(coef, 1)) <= 1e-6, `${module} scale ${scales.get(module)} vs ${coef}`);
    }
    assert.ok(scales.get('backbone')! < 0.5 && scales.get('dino_head')! < 1 && scales.get('ibot_head') === 1, JSON.stringify([...scales]));
  } finally {
    await clipper.dispose();
  }
});

test('clipScale: float32 FSDP arithmetic, 1 when not clipping, NaN norm leaves gradients alone', () => {
  assert.equal(clipScale(2, 3), 1);
  assert.equal(clipScale(6, 3), f(f(3) / f(6 + f(1e-6))));
  assert.equal(clipScale(Infinity, 3), 0);
  assert.equal(clipScale(NaN, 3), 1);
});

test('clip_ multiplies each module by its own scale; fused into AdamW it gives the same bits', async () => {
  const init = params().map((p) => ({ ...p, data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(i)) }));
  const a = ParamStore.create(init, { groups: GROUP_OPTIONS, maxChunkElements: 700 });
  const b = ParamStore.create(init, { groups: GROUP_OPTIONS, maxChunkElements: 700 });
  const grads = fillGrads(a, 2);
  fillGrads(b, 2);
  const ca = new GradClipper(a);
  const cb = new GradClipper(b);
  const oa = new AdamW(a);
  const ob = new AdamW(b);
  try {
    const { scales } = await ca.clip_(3.0);
    for (const [name, g] of grads) {
      const s = f(scales.get(a.slot(name).module)!);
      assert.deepEqual(a.gradOf(name), g.map((x) => f(x * s)), name);
    }
    const values = { lr: 1e-3, wd: 0.04, lastLayerLr: 1e-3 };
    await oa.step(values);
    const fused = await cb.compute(3.0);
    assert.deepEqual([...fused.scales], [...scales]);
    await ob.step(values, fused.scales);
    for (const s of a.slots) assert.deepEqual(b.param(s.name), a.param(s.name), s.name);
  } finally {
    await Promise.all([ca.dispose(), cb.dispose(), oa.dispose(), ob.dispose()]);
  }
});

test('clipping matches torch (FSDP clip_grad_norm_ arithmetic and nn.utils.clip_grad_norm_)', async (t) => {
  const python = findTorchPython();
  if (!python) return t.skip('no python with torch');
  const dir = await tempDir();
  const store = ParamStore.create(params(), { groups: GROUP_OPTIONS });
  const grads = fillGrads(store, 3);
  const modules = store.modules.map((m) => store.moduleSlots(m).map((s) => ({ shape: s.shape, size: s.size })));
  await writeFile(join(dir, 'spec.json'), JSON.stringify(modules));
  await writeFile(join(dir, 'grads.bin'), Buffer.concat(store.slots.map((s) => Buffer.from(grads.get(s.name)!.buffer))));
  const script = String.raw`
import json, sys, numpy as np, torch
d = sys.argv[1]
mods = json.load(open(d + '/spec.json'))
buf = np.fromfile(d + '/grads.bin', dtype='<f4')
o = 0
out_fsdp, out_utils, totals = [], [], []
for mod in mods:
    gs = []
    for p in mod:
        gs.append(torch.from_numpy(buf[o:o + p['size']].copy()).reshape(p['shape'])); o += p['size']
    # FSDP (torch 1.13) _calc_grad_norm + clip_grad_norm_, single rank
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, 2, dtype=torch.float32) for g in gs]), 2)
    coef = torch.tensor(3.0, dtype=norm.dtype) / (norm + 1e-6)
    a = [g.clone() for g in gs]
    if coef < 1:
        for g in a: g.mul_(coef)
    out_fsdp += [g.flatten() for g in a]
    ps = [torch.nn.Parameter(torch.zeros_like(g)) for g in gs]
    for p, g in zip(ps, gs): p.grad = g.clone()
    totals.append(float(torch.nn.utils.clip_grad_norm_(ps, 3.0)))
    out_utils += [p.grad.flatten() for p in ps]
torch.cat(out_fsdp).numpy().astype('<f4').tofile(d + '/fsdp.bin')
torch.cat(out_utils).numpy().astype('<f4').tofile(d + '/utils.bin')
json.dump(totals, open(d + '/totals.json', 'w'))
`;
  runPython(python, script, [dir]);
  const clipper = new GradClipper(store);
  let result;
  try {
    result = await clipper.clip_(3.0);
  } finally {
    await clipper.dispose();
  }
  const totals = JSON.parse(await readFile(join(dir, 'totals.json'), 'utf8')) as number[];
  store.modules.forEach((m, i) => {
    const got = result.totalNorms.get(m)!;
    assert.ok(Math.abs(got - totals[i]!) <= 1e-6 * totals[i]!, `${m}: total ${got} vs torch ${totals[i]}`);
  });
  for (const file of ['fsdp.bin', 'utils.bin']) {
    const want = new Float32Array((await readFile(join(dir, file))).buffer.slice(0));
    let o = 0;
    let same = 0;
    for (const s of store.slots) {
      const got = store.gradOf(s.name);
      for (let i = 0; i < s.size; i++) {
        const w = want[o++]!;
        assert.ok(Math.abs(got[i]! - w) <= 1e-6 * Math.max(Math.abs(w), 1e-3), `${file} ${s.name}[${i}]: ${got[i]} vs ${w}`);
        if (got[i] === w) same++;
      }
    }
    t.diagnostic(`${file}: ${same}/${o} gradients bit-identical`);
  }
});
