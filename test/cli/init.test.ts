/** #13 item 7: `dinov2 init` — an officially initialised backbone with its architecture, and random heads, so depth/segment/classify run offline. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';

const TINY = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const IMAGE = join(CONFORMANCE_DIR, 'images', 'astronaut.png');

const std = (a: Float32Array): number => {
  const m = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
};

test('init --arch dinov2_vits14: official initialisation, the architecture in the metadata (info: 6 heads, not assumed)', async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, 'vits14-random.safetensors');
    const r = await cli(['init', '--arch', 'dinov2_vits14', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const f = await SafetensorsFile.open(out);
    try {
      const cfg = JSON.parse(String(f.metadata['dinov2_config']));
      assert.equal(cfg.num_heads, 6);
      assert.equal(cfg.embed_dim, 384);
      // init_weights: pos_embed trunc_normal(std 0.02), cls_token normal(std 1e-6), LayerNorm 1/0, LayerScale init_values (1.0 for hub models).
      assert.ok(Math.abs(std(await f.readFloat32('pos_embed')) - 0.02) < 0.001);
      assert.ok(std(await f.readFloat32('cls_token')) < 1e-5);
      assert.ok((await f.readFloat32('norm.weight')).every((v) => v === 1));
      assert.ok((await f.readFloat32('blocks.0.ls1.gamma')).every((v) => v === 1));
      assert.ok((await f.readFloat32('blocks.0.attn.qkv.bias')).every((v) => v === 0));
    } finally {
      await f.close();
    }
    const info = await cli(['info', out, '--json']);
    const i = JSON.parse(info.stdout);
    assert.equal(i.heads, 6);
    assert.equal(i.headsAssumed, false);
    assert.equal(i.hubModel, 'dinov2_vits14');
  });
});

test('init --head depth-linear | depth-dpt | seg-linear | classifier: depth, segment and classify run without a download', async () => {
  await withTempDir(async (dir) => {
    const head = (kind: string, ...extra: string[]) => cli(['init', '--head', kind, '--model', TINY, '--out', join(dir, `${kind}.safetensors`), ...extra]);
    for (const kind of ['depth-linear', 'depth-dpt', 'seg-linear', 'classifier']) {
      const r = await head(kind, ...(kind === 'seg-linear' ? ['--classes', '5'] : []));
      assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
    }
    const model = ['--model', TINY, '--num-heads', '3', '--offline'];
    // DPT reads 4 distinct blocks: the 4-block tiny model.
    const D4 = join(CONFORMANCE_DIR, 'models', 'tiny-d4.safetensors');
    for (const kind of ['depth-linear', 'depth-dpt']) {
      const d = await cli(['depth', IMAGE, ...(kind === 'depth-dpt' ? ['--model', D4, '--num-heads', '3', '--offline'] : model), '--head', join(dir, `${kind}.safetensors`), '--out', join(dir, `${kind}.png`), '--size', '56']);
      assert.equal(d.code, 0, `${kind}: ${d.stderr}`);
      assert.match(d.stdout, /512×512, depth [\d.]+–[\d.]+ m/);
    }
    const s = await cli(['segment', IMAGE, ...model, '--head', join(dir, 'seg-linear.safetensors'), '--out', join(dir, 'seg.png'), '--mode', 'whole', '--size', '56', '--legend']);
    assert.equal(s.code, 0, s.stderr);
    // The legend goes where --help says (#13 item 11).
    assert.match((await cli(['segment', '--help'])).stdout.replace(/\s+/g, ' '), /default: seg\.legend\.png and seg\.legend\.json for --out seg\.png/);
    for (const f of ['seg.legend.png', 'seg.legend.json']) await stat(join(dir, f));
    const c = await cli(['classify', IMAGE, ...model, '--head', join(dir, 'classifier.safetensors'), '--top', '3', '--json', '--quiet']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout)[0].predictions.length, 3);
  });
});
