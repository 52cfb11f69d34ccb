/** `dinov2 dedup <dirs> --out report.json [--html sheet.html]`: groups of near-duplicate images. */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { writeContactSheet } from '../../apps/retrieval/contactSheet.js';
import { DEFAULT_DEDUP_THRESHOLD, findDuplicates } from '../../apps/retrieval/dedup.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, type ModelCliOptions } from '../modelOptions.js';
import { lazyProgressBar } from '../progressBar.js';
import { DEFAULT_RETRIEVAL_MODEL, loadRetrievalModel } from '../retrievalModel.js';

interface DedupCliOptions extends ModelCliOptions {
  threshold: number;
  out: string;
  html?: string;
  linkImages?: boolean;
  size: number;
  batch: number;
  json?: boolean;
  quiet?: boolean;
}

export function registerDedup(program: Command): void {
  const cmd = program
    .command('dedup')
    .description('find groups of near-duplicate images (re-encoded, resized, slightly cropped copies)')
    .argument('<images...>', 'image files, folders (searched recursively) or quoted globs');
  addModelOptions(cmd);
  cmd
    .addOption(new Option('--threshold <cos>', 'cosine similarity of normalised CLS embeddings at or above which two images are duplicates').argParser(Number).default(DEFAULT_DEDUP_THRESHOLD))
    .requiredOption('--out <report.json>', 'JSON report: groups with members, similarities and the linking pairs')
    .option('--html <sheet.html>', 'also write an HTML contact sheet of the groups')
    .option('--link-images', 'in the contact sheet, link the images (relative paths) instead of embedding thumbnails')
    .addOption(new Option('--size <pixels>', 'eval transform: shorter side to round(size·256/224), center crop').argParser(positiveInt).default(224))
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(8))
    .option('--json', 'also print the report to stdout')
    .addHelpText(
      'after',
      [
        '',
        `Groups are connected components of "similarity ≥ threshold". Default model ${DEFAULT_RETRIEVAL_MODEL}, threshold ${DEFAULT_DEDUP_THRESHOLD}:`,
        'lower it (0.90) for heavier edits, raise it (0.98) for exact re-encodes only.',
        '',
        'Examples:',
        '  $ dinov2 dedup photos/ --out dups.json --html dups.html',
        '  $ dinov2 dedup a/ b/ --model dinov2_vitb14 --threshold 0.9 --out dups.json',
      ].join('\n'),
    )
    .action(async (images: string[], opts: DedupCliOptions) => {
      await runDedup(images, opts);
    });
}

async function runDedup(images: string[], opts: DedupCliOptions): Promise<void> {
  if (!(opts.threshold > -1 && opts.threshold <= 1)) throw new Error(`--threshold ${opts.threshold}: must be a cosine similarity in (-1, 1]`);
  const { model, modelName } = await loadRetrievalModel(opts);
  const bar = lazyProgressBar(opts.quiet ? { quiet: true } : {});
  try {
    const report = await findDuplicates(images, {
      model,
      threshold: opts.threshold,
      size: opts.size,
      batch: opts.batch,
      onProgress: bar.onProgress,
    });
    bar.stop();
    const out = { ...report, model: modelName ?? opts.weights ?? report.model };
    await writeFile(opts.out, `${JSON.stringify(out, null, 2)}\n`);
    if (opts.html) await writeContactSheet(out, opts.html, { inline: !opts.linkImages });
    for (const f of report.failures) console.error(`skipped ${f.path}: ${f.reason}`);
    if (opts.json) console.log(JSON.stringify(out, null, 2));
    else {
      console.log(`${report.images} images: ${report.groups.length} duplicate groups (${report.duplicates} images) at cosine ≥ ${report.threshold} → ${opts.out}${opts.html ? `, ${opts.html}` : ''}`);
      for (const g of report.groups) console.log(`  ${g.members.join('  ')}`);
    }
    if (report.failures.length > 0) process.exitCode = 1;
  } finally {
    bar.stop();
    await model.dispose();
  }
}
