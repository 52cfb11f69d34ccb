/**
 * #13 item 4: a head trained on one backbone is refused on another of the same width (the head file records the
 * backbone's architecture and a probe of its weights), unless --force; the same backbone in another dtype passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openWeights } from '../../src/formats/open.js';
import { writeSafetensors } from '../../src/formats/safetensorsWriter.js';
import { SafetensorsFile } from '../../src/formats/safetensors.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { writeDataset } from '../heads/segmentation/helpers.js';

const MODELS = join(CONFORMANCE_DIR, 'models');
const MLP = join(MODELS, 'tiny-mlp.safetensors');

/** tiny-mlp with other weights: the class token and position embeddings negated (same shapes, same architecture). */
async function otherWeights(path: string): Promise<void> {
  const src = await openWeights(MLP);
  try {
    const items = [];
    for (const key of src.keys()) {
      const e = src.entry(key)!;
      const data = await src.readFloat32(key);
      if (key === 'cls_token' || key === 'pos_embed') for (let i = 0; i < data.length; i++) data[i] = -data[i]! + 0.5;
      items.push({ key, dtype: 'F32' as const, shape: e.shape, data });
    }
    await writeSafetensors(path, items, { dinov2_config: JSON.stringify({ num_heads: 3 }) });
  } finally {
    await src.close();
  }
}

test('segment: a head from segment-train refuses a backbone of the same width with another architecture or other weights, unless --force', async () => {
  await withTempDir(async (dir) => {
    await writeDataset(dir, 3, 28);
    const head = join(dir, 'head.safetensors');
    const trained = await cli(['segment-train', '--images', join(dir, 'images'), '--masks', join(dir, 'masks'), '--model', MLP, '--num-heads', '3', '--out', head, '--iters', '1', '--size', '28', '--val-split', '0', '--quiet']);
    assert.equal(trained.code, 0, trained.stderr);
    const f = await SafetensorsFile.open(head);
    const recorded = JSON.parse(String(f.metadata['backbone_identity']));
    await f.close();
    assert.equal(recorded.architecture.embed_dim, 48);
    assert.equal(recorded.architecture.num_heads, 3);

    const image = join(dir, 'images', 'img0.png');
    const seg = (model: string, ...extra: string[]) => cli(['segment', image, '--model', model, '--num-heads', '3', '--head', head, '--out', join(dir, 'seg.png'), '--mode', 'whole', '--size', '28', ...extra]);
    const same = await seg(MLP);
    assert.equal(same.code, 0, same.stderr);
    // The same weights in bfloat16 are the same backbone.
    const bf16 = join(dir, 'bf16.safetensors');
    assert.equal((await cli(['convert', MLP, bf16, '--dtype', 'bf16', '--num-heads', '3'])).code, 0);
    assert.equal((await seg(bf16)).code, 0);

    const deeper = await seg(join(MODELS, 'tiny-d4.safetensors'));
    assert.equal(deeper.code, 1);
    assert.match(deeper.stderr, /head\.safetensors was trained on .*tiny-mlp\.safetensors, another architecture than .*tiny-d4\.safetensors: depth 4 \(head trained with 3\).*\(--force\)/);

    const other = join(dir, 'other.safetensors');
    await otherWeights(other);
    const refused = await seg(other);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /has the same architecture but other weights \(probe similarity -?[\d.]+\).*\(--force\)/);
    const forced = await seg(other, '--force');
    assert.equal(forced.code, 0, forced.stderr);
  });
});
