/** #13 item 8: one tool — every command that loads a model takes the same options and the same default model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProgram } from '../../src/cli/main.js';
import { DEFAULT_MODEL } from '../../src/cli/modelOptions.js';

const MODEL_COMMANDS = ['embed', 'pca', 'depth', 'segment', 'segment-train', 'attention', 'classify', 'knn', 'linear', 'index', 'search', 'dedup', 'curate'];
const SHARED = ['--model', '--weights', '--num-heads', '--interpolate-offset', '--interpolate-antialias', '--offline', '--device', '--threads', '--precision', '--quiet', '--json'];

test('every model-loading command has the shared options, and the same default model', () => {
  const program = buildProgram();
  for (const name of MODEL_COMMANDS) {
    const cmd = program.commands.find((c) => c.name() === name);
    assert.ok(cmd, `no command ${name}`);
    const flags = cmd.options.map((o) => o.long);
    for (const flag of SHARED) assert.ok(flags.includes(flag), `${name} lacks ${flag}`);
    const model = cmd.options.find((o) => o.long === '--model')!;
    assert.match(model.description, new RegExp(`\\[default: ${DEFAULT_MODEL}\\]`), `${name}: --model help`);
    assert.match(model.description, /Hugging Face repo id/, `${name}: --model help`);
  }
  assert.equal(DEFAULT_MODEL, 'dinov2_vits14');
  // train and convert take the architecture flags as well.
  for (const name of ['train', 'convert', 'info', 'init']) {
    const flags = program.commands.find((c) => c.name() === name)!.options.map((o) => o.long);
    assert.ok(flags.includes('--num-heads'), `${name} lacks --num-heads`);
  }
});

test('train and distill: --decode-cache in MiB (default 256, 0 turns it off), --workers as given', async () => {
  const { loaderFromCli } = await import('../../src/cli/imageLoopOptions.js');
  for (const name of ['train', 'distill']) {
    const cmd = buildProgram().commands.find((c) => c.name() === name)!;
    cmd.parseOptions(['--decode-cache', '0', '--workers', '2']);
    assert.deepEqual(loaderFromCli(cmd.opts() as never), { augmentWorkers: 2, decodeCacheBytes: 0 });
    const fresh = buildProgram().commands.find((c) => c.name() === name)!;
    fresh.parseOptions([]);
    assert.deepEqual(loaderFromCli(fresh.opts() as never), { decodeCacheBytes: 256 * 2 ** 20 });
  }
});
