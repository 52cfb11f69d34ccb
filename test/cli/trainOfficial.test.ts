/**
 * `dinov2 train --export-official` and `--from-official`: 2 iterations exported in the official layout
 * (model_0000001.rank_0.pth + last_checkpoint.rank_0), then continued from that checkpoint to iteration 4
 * (AdamW steps carried over: 4 per parameter), and a configuration that does not fit it is refused.
 * (The bit-exactness of export → import is test/train/ssl/officialCheckpoint.test.ts.)
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadTrainState } from '../../src/train/ssl/checkpoint.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { writeTrainingImages } from '../apps/retrieval/images.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const TINY = ['--global-size', '28', '--local-size', '14', '--local-crops', '2', '--batch', '2', '--prototypes', '16', '--head-hidden', '8', '--head-bottleneck', '4', '--centering', 'centering', '--drop-path', '0'];
const SCHEDULE = ['--epochs', '1', '--epoch-length', '4', '--warmup-epochs', '0', '--quiet', '--workers', '0'];

test('train --export-official then --from-official continues the run', { timeout: 300000 }, async () => {
  await withTempDir(async (dir) => {
    const images = await writeTrainingImages(dir);
    const first = await cli(['train', images, '--model', MODEL, '--out', join(dir, 'a'), ...TINY, ...SCHEDULE, '--iterations', '2', '--export-official', join(dir, 'official')]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual((await readdir(join(dir, 'official'))).sort(), ['last_checkpoint.rank_0', 'model_0000001.rank_0.pth']);
    assert.equal(JSON.parse(first.stdout).official, join(dir, 'official', 'model_0000001.rank_0.pth'));

    const cont = await cli(['train', images, '--model', MODEL, '--out', join(dir, 'b'), ...TINY, ...SCHEDULE, '--iterations', '4', '--from-official', join(dir, 'official')]);
    assert.equal(cont.code, 0, cont.stderr);
    assert.equal(JSON.parse(cont.stdout).iterations, 4);
    const b = (await loadTrainState(join(dir, 'b', 'state'))).store;
    assert.equal(b.iteration, 4);
    const a2 = (await loadTrainState(join(dir, 'a', 'state'))).store;
    // Continued from the official file: not the state it started from, but the same parameter layout.
    assert.deepEqual(b.slots.map((s) => s.name), a2.slots.map((s) => s.name));
    assert.notDeepEqual(b.param('backbone.cls_token'), a2.param('backbone.cls_token'));
    assert.deepEqual(Array.from(new Set(b.steps)), [4]);

    const bad = await cli(['train', images, '--model', MODEL, '--out', join(dir, 'c'), ...TINY, ...SCHEDULE, '--prototypes', '12', '--iterations', '3', '--from-official', join(dir, 'official')]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /dino_head.*the configuration needs/);
  });
});
