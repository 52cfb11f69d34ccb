/**
 * `dinov2 curate <images> --budget N --out selected.txt`: the DINOv2-style curation of an image pool —
 * embed (unit CLS), optionally drop near-duplicates (copy detection, as LVD-142M's pipeline does first),
 * then hierarchical k-means with resampling and balanced hierarchical sampling (Vo et al. 2024), so that
 * the selection covers the pool's concepts evenly instead of in proportion to how common each one is.
 */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { curate, type LevelConfig, type SamplingStrategy } from '../../apps/curation/index.js';
import { gatherRows } from '../../apps/curation/resampledKmeans.js';
import { writeOfficialDataset } from '../../apps/curation/officialDataset.js';
import { curateCollection } from '../../apps/curation/shardProcess.js';
import { groupDuplicates } from '../../apps/retrieval/dedup.js';
import { embedFilesNormalized } from '../../apps/retrieval/embedFiles.js';
import { nonNegativeInt, positiveInt } from '../inputs.js';
import { addModelOptions, runtimeFromCli, type ModelCliOptions } from '../modelOptions.js';
import { lazyProgressBar } from '../progressBar.js';
import { loadRetrievalModel } from '../retrievalModel.js';

interface CurateCliOptions extends ModelCliOptions {
  budget: number;
  out: string;
  json?: boolean;
  clusters?: string;
  iters: string;
  resampling: string;
  sampleSize: string;
  strategy: SamplingStrategy;
  dedup?: number;
  report?: string;
  officialDataset?: string;
  db?: string;
  table: string;
  shards: number;
  seed: number;
  size: number;
  batch: number;
  quiet?: boolean;
}

/** A comma-separated list of positive integers, one per level (a single value applies to every level). */
function perLevel(flag: string, value: string, levels: number): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const nums = parts.map((p) => Number(p));
  if (parts.some((p) => !/^\d+$/.test(p)) || nums.some((n) => n < 1)) throw new Error(`${flag} '${value}': expected positive integers separated by commas`);
  if (nums.length === 1) return Array.from({ length: levels }, () => nums[0]!);
  if (nums.length !== levels) throw new Error(`${flag} '${value}' gives ${nums.length} values for ${levels} levels (--clusters)`);
  return nums;
}

export interface CurateReport {
  model: string;
  images: number;
  failures: { path: string; reason: string }[];
  /** Near-duplicates left out before clustering (all but the first member of each group). */
  duplicatesRemoved: string[];
  levels: { clusters: number; iters: number; resamplingSteps: number; sampleSize: number }[];
  budget: number;
  selected: string[];
  /** Per clustered image: its cluster at each level, finest first. */
  assignments: { path: string; clusters: number[] }[];
}

/** Clusters of the one level curate uses without --clusters (at most one per image). */
export const DEFAULT_CLUSTERS = 100;

export async function runCurate(images: readonly string[], opts: CurateCliOptions, log: (line: string) => void = (l) => console.error(l)): Promise<CurateReport> {
  // Without --clusters, one level of DEFAULT_CLUSTERS clusters, fewer for a smaller pool (fixed below).
  const explicit = opts.clusters !== undefined;
  const clusters = perLevel('--clusters', opts.clusters ?? String(DEFAULT_CLUSTERS), (opts.clusters ?? '1').split(',').length);
  const L = clusters.length;
  const iters = perLevel('--iters', opts.iters, L);
  const resampling = perLevel('--resampling', opts.resampling, L);
  const sampleSize = perLevel('--sample-size', opts.sampleSize, L);
  for (let l = 1; l < L; l++) {
    if (clusters[l]! > clusters[l - 1]!) throw new Error(`--clusters ${opts.clusters}: level ${l + 1} has more clusters than level ${l} clusters it into`);
  }
  if (opts.dedup !== undefined && !(opts.dedup > -1 && opts.dedup <= 1)) throw new Error(`--dedup ${opts.dedup}: must be a cosine similarity in (-1, 1]`);

  const { model, modelName } = await loadRetrievalModel(opts);
  const bar = lazyProgressBar(opts.quiet ? { quiet: true } : {});
  try {
    const embedded = await embedFilesNormalized(images, { model, size: opts.size, batch: opts.batch, onProgress: bar.onProgress });
    bar.stop();
    for (const f of embedded.failures) log(`skipped ${f.path}: ${f.reason}`);
    const D = embedded.dim;
    let keep = embedded.paths.map((_, i) => i);
    const duplicatesRemoved: string[] = [];
    if (opts.dedup !== undefined) {
      const groups = await groupDuplicates(embedded.paths, embedded.embeddings, D, opts.dedup);
      const drop = new Set<string>();
      for (const g of groups) for (const m of g.members.slice(1)) drop.add(m);
      keep = keep.filter((i) => !drop.has(embedded.paths[i]!));
      duplicatesRemoved.push(...embedded.paths.filter((p) => drop.has(p)));
      log(`curate: ${groups.length} near-duplicate groups at cosine ≥ ${opts.dedup}, ${duplicatesRemoved.length} images left out`);
    }
    const n = keep.length;
    if (!explicit && clusters[0]! > n) {
      clusters[0] = Math.max(1, n);
      log(`curate: ${n} images, fewer than the default ${DEFAULT_CLUSTERS} clusters: using --clusters ${clusters[0]}`);
    }
    if (clusters[0]! > n) throw new Error(`--clusters ${opts.clusters}: ${clusters[0]} clusters at level 1 for ${n} images; use at most ${n} (or leave --clusters out to adapt)`);
    const x = gatherRows(embedded.embeddings, D, keep);

    const levels: LevelConfig[] = clusters.map((k, l) => ({ nClusters: k, nIters: iters[l]!, nResamplingSteps: resampling[l]!, sampleSize: sampleSize[l]! }));
    log(`curate: ${n} images, ${L} level${L > 1 ? 's' : ''} of k-means (${clusters.join(' → ')} clusters), budget ${opts.budget}, strategy '${opts.strategy}'`);
    let lastLine = '';
    const result = await curate(x, n, D, {
      levels,
      budget: opts.budget,
      strategy: opts.strategy,
      seed: opts.seed,
      runtime: runtimeFromCli(opts),
      onProgress: (p) => {
        if (opts.quiet || p.done !== p.total) return;
        const line = `  level ${p.level}/${p.levels}, run ${p.step + 1}/${p.steps}: ${p.phase === 'seeding' ? 'seeded' : `${p.total} updates`}`;
        if (line !== lastLine) log((lastLine = line));
      },
    });
    const pathOf = (row: number): string => embedded.paths[keep[row]!]!;
    // Input order: the selection is a subset of the pool, listed as the pool lists it.
    const selected = [...new Set(result.selected)].sort((a, b) => a - b).map(pathOf);
    const assignments = keep.map((_, row) => {
      const chain: number[] = [];
      let item = row;
      for (const level of result.levels) {
        item = level.assignment[item]!;
        chain.push(item);
      }
      return { path: pathOf(row), clusters: chain };
    });
    await writeFile(opts.out, selected.map((p) => `${p}\n`).join(''));
    const report: CurateReport = {
      model: modelName ?? opts.weights ?? model.name,
      images: embedded.paths.length,
      failures: embedded.failures,
      duplicatesRemoved,
      levels: levels.map((l) => ({ clusters: l.nClusters, iters: l.nIters!, resamplingSteps: l.nResamplingSteps!, sampleSize: l.sampleSize! })),
      budget: opts.budget,
      selected,
      assignments,
    };
    if (opts.report) await writeFile(opts.report, `${JSON.stringify(report, null, 2)}\n`);
    if (opts.officialDataset) {
      const d = await writeOfficialDataset(opts.officialDataset, selected);
      log(`curate: ${d.images} images in ${d.tarballs.length} tarball(s) for the official trainer: train.dataset_path=${d.datasetPath}`);
    }
    return report;
  } finally {
    bar.stop();
    await model.dispose();
  }
}

/** `curate --db`: the collection's stored embeddings, clustered by --shards worker processes. */
async function runCurateCollection(opts: CurateCliOptions, log: (line: string) => void = (l) => console.error(l)): Promise<void> {
  if (opts.dedup !== undefined) throw new Error('--dedup works on images; with --db, deduplicate the collection first (dinov2 dedup)');
  const clusters = perLevel('--clusters', opts.clusters ?? String(DEFAULT_CLUSTERS), (opts.clusters ?? '1').split(',').length);
  const L = clusters.length;
  const iters = perLevel('--iters', opts.iters, L);
  const resampling = perLevel('--resampling', opts.resampling, L);
  const sampleSize = perLevel('--sample-size', opts.sampleSize, L);
  const levels: LevelConfig[] = clusters.map((k, l) => ({ nClusters: k, nIters: iters[l]!, nResamplingSteps: resampling[l]!, sampleSize: sampleSize[l]! }));
  const r = await curateCollection(opts.db!, opts.table, opts.shards, { levels, budget: opts.budget, strategy: opts.strategy, seed: opts.seed });
  await writeFile(opts.out, r.selected.map((p) => `${p}\n`).join(''));
  if (opts.officialDataset) {
    const d = await writeOfficialDataset(opts.officialDataset, r.selected);
    log(`curate: ${d.images} images in ${d.tarballs.length} tarball(s) for the official trainer: train.dataset_path=${d.datasetPath}`);
  }
  console.log(`${r.points} embeddings in ${opts.db} over ${r.shards} shard processes: ${r.selected.length} selected → ${opts.out}`);
}

export function registerCurate(program: Command): void {
  const cmd = program
    .command('curate')
    .description('select a balanced subset of an image pool: near-duplicate removal, hierarchical k-means with resampling, balanced sampling (Vo et al. 2024)')
    .argument('[images...]', 'image files, folders (searched recursively) or quoted globs (or --db)');
  addModelOptions(cmd);
  cmd
    .option('--db <dir|uri>', "curate a collection's stored embeddings instead of images (from dinov2 index / worker)")
    .option('--table <name>', 'table of --db', 'images')
    .addOption(new Option('--shards <n>', 'with --db: worker processes, each holding 1/n of the embeddings (docs/SCALING.md)').argParser(positiveInt).default(1))
    .addOption(new Option('--budget <n>', 'images to select').argParser(positiveInt).makeOptionMandatory())
    .requiredOption('--out <file>', 'the selected paths, one per line, in input order')
    .option('--clusters <k1,k2,…>', `clusters per level, finest first (level l clusters the centroids of level l−1) [default: ${DEFAULT_CLUSTERS}, or the pool size when smaller]`)
    .option('--iters <n,…>', 'centroid updates per k-means run, per level (reference: 50)', '50')
    .option('--resampling <n,…>', 'k-means runs per level, the first on all items (1: no resampling; reference: 1,10,10,10)', '1')
    .option('--sample-size <n,…>', 'items kept per cluster in a resampling run (reference: about half the mean cluster size)', '1')
    .addOption(new Option('--strategy <s>', "leaf pick: 'c' closest to the centroid, 'r' random").choices(['c', 'r']).default('r'))
    .addOption(new Option('--dedup <cos>', 'first drop near-duplicates at this cosine similarity (e.g. 0.95), keeping one per group').argParser(Number))
    .option('--json', 'print the result as JSON on stdout')
    .option('--report <report.json>', 'JSON: per image its clusters at each level, the duplicates left out, the selection')
    .option('--official-dataset <dir>', "also write the selection for the official trainer's loader (ImageNet22k layout: tarballs + extra/*.npy)")
    .addOption(new Option('--seed <n>', 'seed of the clustering and the sampling').argParser(nonNegativeInt).default(0))
    .addOption(new Option('--size <pixels>', 'eval transform: shorter side to round(size·256/224), center crop').argParser(positiveInt).default(224))
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(8))
    .addHelpText(
      'after',
      '\nExamples:\n  $ dinov2 curate pool/ --budget 1000 --clusters 200,20 --dedup 0.95 --out selected.txt --report curation.json\n' +
        '  $ dinov2 train $(cat selected.txt) --model dinov2_vits14 --out run ...',
    )
    .action(async (images: string[], opts: CurateCliOptions) => {
      if (opts.db) {
        if (images.length > 0) throw new Error('give images or --db, not both');
        return runCurateCollection(opts);
      }
      if (images.length === 0) throw new Error('no images given (or use --db for a collection)');
      const r = await runCurate(images, opts);
      if (opts.json) console.log(JSON.stringify({ out: opts.out, images: r.images, selected: r.selected.length, duplicatesRemoved: r.duplicatesRemoved.length, failures: r.failures }));
      else console.log(`${r.images} images${r.duplicatesRemoved.length ? `, ${r.duplicatesRemoved.length} near-duplicates left out` : ''}: ${r.selected.length} selected → ${opts.out}`);
      if (r.failures.length > 0) process.exitCode = 1;
    });
}
