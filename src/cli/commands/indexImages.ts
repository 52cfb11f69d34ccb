/** `dinov2 index <dirs|globs> --db PATH`: embed images into an on-disk LanceDB index, incrementally. */
import { Option, type Command } from 'commander';
import { DEFAULT_TABLE, indexImages } from '../../apps/retrieval/indexImages.js';
import { mergeIndexes } from '../../apps/scale/merge.js';
import { parseShard, type ShardSpec } from '../../apps/scale/shard.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, type ModelCliOptions } from '../modelOptions.js';
import { lazyProgressBar } from '../progressBar.js';
import { DEFAULT_RETRIEVAL_MODEL, loadRetrievalModel } from '../retrievalModel.js';

interface IndexCliOptions extends ModelCliOptions {
  db: string;
  table: string;
  size: number;
  batch: number;
  rebuild?: boolean;
  shard?: ShardSpec;
  merge?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerIndex(program: Command): void {
  const cmd = program
    .command('index')
    .description('add images to a LanceDB index for "dinov2 search" (unchanged files are skipped)')
    .argument('<images...>', 'image files, folders (searched recursively) or quoted globs; with --merge: the shard collections');
  addModelOptions(cmd);
  cmd
    .requiredOption('--db <dir>', 'LanceDB folder (created if missing)')
    .option('--table <name>', 'table name', DEFAULT_TABLE)
    .addOption(new Option('--size <pixels>', 'eval transform: shorter side to round(size·256/224), center crop').argParser(positiveInt).default(224))
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(8))
    .option('--rebuild', 'drop the table first (e.g. to change to a model of another width)')
    .addOption(new Option('--shard <i/N>', 'index only shard i of N of the inputs (stable path hash; for Indexed Jobs / SLURM arrays)').argParser((v) => parseShard(v)))
    .addOption(new Option('--merge', 'combine the shard collections given as arguments into --db (upsert by id or path)').conflicts(['shard', 'rebuild']))
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      [
        '',
        `Stores path, file size and mtime, model, pooling (CLS), image size and the L2-normalised CLS embedding (default model ${DEFAULT_RETRIEVAL_MODEL}).`,
        'Re-running skips files whose path, size, mtime and model are unchanged (no decoding, no backbone), re-embeds',
        'changed files and removes rows of files that are gone.',
        '',
        'Examples:',
        '  $ dinov2 index photos/ --db photos.lance --model dinov2_vits14',
        "  $ dinov2 index 'archive/**/*.jpg' --db photos.lance",
        '  $ dinov2 index archive/ --shard 0/4 --db shard-0.lance     # on machine 0 of 4 (see docs/SCALING.md)',
        '  $ dinov2 index --merge shard-0.lance shard-1.lance shard-2.lance shard-3.lance --db photos.lance',
      ].join('\n'),
    )
    .action(async (images: string[], opts: IndexCliOptions) => {
      await runIndex(images, opts);
    });
}

async function runMerge(sources: string[], opts: IndexCliOptions): Promise<void> {
  const report = await mergeIndexes(sources, { db: opts.db, table: opts.table });
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else console.log(`merged ${report.sources.map((s) => `${s.db} (${s.rows})`).join(', ')} by ${report.key}: ${report.rows} rows in ${opts.db} (${report.seconds.toFixed(1)} s)`);
}

async function runIndex(images: string[], opts: IndexCliOptions): Promise<void> {
  if (opts.merge) return runMerge(images, opts);
  const { model, modelName } = await loadRetrievalModel(opts);
  const bar = lazyProgressBar(opts.quiet ? { quiet: true } : {});
  try {
    const report = await indexImages(images, {
      db: opts.db,
      model,
      modelName: modelName ?? opts.weights!,
      table: opts.table,
      size: opts.size,
      batch: opts.batch,
      ...(opts.rebuild ? { rebuild: true } : {}),
      ...(opts.shard ? { shard: opts.shard } : {}),
      onProgress: bar.onProgress,
      onFailure: (path, reason) => bar.log(`skipped ${path}: ${reason}`),
    });
    bar.stop();
    for (const p of report.problems) console.error(`skipped ${p.path}: ${p.reason}`);
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(
        `${report.files} files: ${report.added} added, ${report.updated} updated, ${report.unchanged} unchanged, ${report.removed} removed, ` +
          `${report.failed.length} failed; ${report.rows} rows in ${opts.db} (${report.seconds.toFixed(1)} s)`,
      );
    }
    if (report.failed.length + report.problems.length > 0) process.exitCode = 1;
  } finally {
    bar.stop();
    await model.dispose();
  }
}
