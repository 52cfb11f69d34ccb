/** `dinov2 embed <images...> --out F`: features of many images, streamed to .safetensors, .npy or .jsonl. */
import { Option, type Command } from 'commander';
import { extname } from 'node:path';
import { embedStream, EmbedFailureError, POOLS, type Pool } from '../../apps/embed.js';
import { evalResizeFor } from '../../data/imagePipeline.js';
import { FEATURE_FORMATS, openFeatureWriter } from '../../apps/featureWriters.js';
import { writePathsSidecar } from '../../apps/featurePaths.js';
import { expandInputs } from '../../data/inputs.js';
import { parseShard, selectShard, type ShardSpec } from '../../apps/scale/shard.js';
import { nonNegativeInt, positiveInt } from '../inputs.js';
import { addModelOptions, loadModelFromCli, modelNameFromCli, type ModelCliOptions } from '../modelOptions.js';
import { createProgressBar } from '../progressBar.js';

interface EmbedCliOptions extends ModelCliOptions {
  size?: number;
  dense?: number;
  pool: Pool;
  batch: number;
  workers?: number;
  overlap?: 'turns' | 'concurrent';
  out: string;
  strict?: boolean;
  shard?: ShardSpec;
  quiet?: boolean;
  json?: boolean;
}

export function registerEmbed(program: Command): void {
  const cmd = program
    .command('embed')
    .description('features of images (CLS, mean, CLS+mean or patch tokens) written to .safetensors, .npy or .jsonl')
    .argument('<images...>', 'image files, folders (searched recursively) or quoted globs');
  addModelOptions(cmd);
  cmd
    .addOption(new Option('--size <pixels>', 'eval transform: shorter side to round(size·256/224), center crop size×size [default: 224]').argParser(positiveInt))
    .addOption(new Option('--dense <pixels>', 'keep the aspect ratio: shorter side to this, both sides to multiples of the patch').argParser(positiveInt).conflicts('size'))
    .addOption(new Option('--pool <pool>', 'cls, mean (of patch tokens), cls+mean (linear-head features) or patch (all tokens)').choices(POOLS).default('cls'))
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(8))
    .addOption(new Option('--workers <n>', 'threads that decode and resize images (0: none) [default: one per core with --overlap turns, else cores - 1; 1 to 4]').argParser(nonNegativeInt))
    .addOption(
      new Option('--overlap <mode>', 'turns: decoding and the model take turns, each with every core; concurrent: decoding runs beside the model [default: turns when the model uses every core]').choices(['turns', 'concurrent']),
    )
    .requiredOption('--out <file>', `output: ${FEATURE_FORMATS.join(', ')}`)
    .option('--strict', 'stop at the first image that cannot be read')
    .addOption(new Option('--shard <i/N>', 'embed only shard i of N of the inputs (stable path hash; one output per shard)').argParser((v) => parseShard(v)))
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      [
        '',
        'Outputs: .safetensors (tensor "embeddings" [n, D], or "patch_tokens.<i>" per image; paths in the metadata),',
        '.npy (float32 [n, D] or [n, N, D]) with <out>.paths.txt beside it (the file names, one per line, in row order),',
        '.jsonl ({"path", "embedding"} per line). Rows follow the input order.',
        'Unreadable files are reported and skipped; the exit status is then 1.',
        '',
        'Examples:',
        '  $ dinov2 embed photos/ --model dinov2_vits14 --out feats.npy',
        "  $ dinov2 embed 'data/**/*.jpg' --model dinov2_vitb14_reg --pool cls+mean --out feats.safetensors",
        '  $ dinov2 embed a.png b.png --weights ckpt.pth --dense 518 --pool patch --out patches.jsonl',
      ].join('\n'),
    )
    .action(async (images: string[], opts: EmbedCliOptions) => {
      await runEmbed(images, opts);
    });
}

async function runEmbed(images: string[], opts: EmbedCliOptions): Promise<void> {
  if (!(FEATURE_FORMATS as readonly string[]).includes(extname(opts.out).toLowerCase())) {
    throw new Error(`--out ${opts.out}: unknown format; use one of ${FEATURE_FORMATS.join(', ')}`);
  }
  const expanded = await expandInputs(images);
  const { problems } = expanded;
  const files = opts.shard ? selectShard(expanded.files, opts.shard) : expanded.files;
  if (opts.strict && problems.length > 0) throw new Error(`${problems[0]!.path}: ${problems[0]!.reason} (--strict)`);
  for (const p of problems) console.error(`skipped ${p.path}: ${p.reason}`);

  const model = await loadModelFromCli(opts);
  const transform = opts.dense !== undefined ? { dense: opts.dense } : { size: opts.size ?? 224 };
  const writer = await openFeatureWriter(opts.out, {
    metadata: {
      model: modelNameFromCli(opts) ?? opts.weights ?? '',
      pool: opts.pool,
      transform: 'dense' in transform ? `dense ${transform.dense}` : `resize ${evalResizeFor(transform.size)}, center crop ${transform.size}`,
    },
  });
  const bar = createProgressBar({ total: files.length, ...(opts.quiet ? { quiet: true } : {}) });
  const started = performance.now();
  let ok = 0;
  const rows: string[] = [];
  let failed = problems.length;
  try {
    const events = embedStream(files, { model, pool: opts.pool, batch: opts.batch, ...(opts.workers !== undefined ? { workers: opts.workers } : {}), ...(opts.overlap ? { overlap: opts.overlap } : {}), ...transform, ...(opts.strict ? { strict: true } : {}) });
    for await (const e of events) {
      if (e.ok) {
        await writer.add(e);
        rows.push(e.path);
        ok++;
      } else {
        bar.log(`skipped ${e.path}: ${e.reason}`);
        failed++;
      }
      bar.tick();
    }
    await writer.close();
    if (extname(opts.out).toLowerCase() === '.npy') await writePathsSidecar(opts.out, rows);
  } catch (e) {
    await writer.abort();
    if (e instanceof EmbedFailureError) throw new Error(`${e.message} (--strict: stopped, nothing written)`);
    throw e;
  } finally {
    bar.stop();
    await model.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  if (opts.json) console.log(JSON.stringify({ out: opts.out, embedded: ok, failed, seconds: +seconds.toFixed(3), ...(extname(opts.out).toLowerCase() === '.npy' ? { paths: `${opts.out}.paths.txt` } : {}) }));
  console.error(
    `${ok} embedded, ${failed} failed in ${seconds.toFixed(1)} s (${(ok / Math.max(seconds, 1e-9)).toFixed(1)} images/s) → ${opts.out}`,
  );
  if (failed > 0) throw new Error(`${failed} of ${files.length + problems.length} inputs could not be read (listed above)`);
}
