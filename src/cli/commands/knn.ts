/** `dinov2 knn --train T --val V`: the official weighted k-NN evaluation on a labelled folder or CSV. */
import { Option, type Command } from 'commander';
import { loadDataset, type LabeledImages } from '../../eval/datasets.js';
import { clsFeatures, extractFeatures, keptLabels, type FeatureSet } from '../../eval/features.js';
import { DEFAULT_KS, DEFAULT_TEMPERATURE, evalKnn } from '../../eval/knn.js';
import { confusionMatrix, mostConfusedPairs, type ConfusedPair } from '../../eval/metrics.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, loadModelFromCli, runtimeFromCli, type ModelCliOptions } from '../modelOptions.js';
import { createProgressBar } from '../progressBar.js';

/** What the evaluation commands share: two labelled sets, a model, and how features are made. */
export interface EvalDataCliOptions extends ModelCliOptions {
  train: string;
  val: string;
  size: number;
  batch: number;
  cache?: string;
  quiet?: boolean;
  json?: boolean;
}

export function addEvalDataOptions(cmd: Command): Command {
  addModelOptions(cmd);
  return cmd
    .requiredOption('--train <dir|csv>', 'training images: a folder of class sub-folders, or a CSV of path,label')
    .requiredOption('--val <dir|csv>', 'validation images, same forms (classes must be among the training classes)')
    .addOption(new Option('--size <pixels>', 'eval transform: shorter side to round(size·256/224), center crop').argParser(positiveInt).default(224))
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(16))
    .option('--cache <dir>', 'feature cache folder: later runs (other k, other learning rates) skip the backbone')
    .option('--json', 'print the results as JSON');
}

export interface EvalSplit {
  data: LabeledImages;
  features: FeatureSet;
  /** Labels of the images in `features` (unreadable ones dropped). */
  labels: Int32Array;
}

export interface EvalData {
  model: Dinov2;
  train: EvalSplit;
  val: EvalSplit;
  failures: { path: string; reason: string }[];
  computed: number;
  cached: number;
}

/** Loads both sets and their features (cached when --cache is given); unreadable images are reported and left out. */
export async function loadEvalData(opts: EvalDataCliOptions): Promise<EvalData> {
  const trainData = await loadDataset(opts.train);
  const valData = await loadDataset(opts.val, { classes: trainData.classes });
  const model = await loadModelFromCli(opts);
  try {
    const bar = createProgressBar({ total: trainData.paths.length + valData.paths.length, ...(opts.quiet ? { quiet: true } : {}) });
    const extract = (d: LabeledImages) => extractFeatures(model, d.paths, { size: opts.size, batch: opts.batch, ...(opts.cache ? { cache: opts.cache } : {}), onImage: () => bar.tick() });
    let train, val;
    try {
      train = await extract(trainData);
      val = await extract(valData);
    } finally {
      bar.stop();
    }
    const failures = [...train.failures, ...val.failures];
    for (const f of failures) console.error(`skipped ${f.path}: ${f.reason}`);
    if (train.features.paths.length === 0) throw new Error(`${opts.train}: no readable training images`);
    if (val.features.paths.length === 0) throw new Error(`${opts.val}: no readable validation images`);
    return {
      model,
      train: { data: trainData, features: train.features, labels: keptLabels(train.features, trainData.labels) },
      val: { data: valData, features: val.features, labels: keptLabels(val.features, valData.labels) },
      failures,
      computed: train.computed + val.computed,
      cached: train.cached + val.cached,
    };
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

export function formatConfusion(pairs: readonly ConfusedPair[], what: string): string[] {
  if (pairs.length === 0) return [`no confusions (${what})`];
  return [`most confused (${what}): true → predicted`, ...pairs.map((p) => `  ${p.trueClass} → ${p.predicted}  ${p.count} (${(100 * p.rate).toFixed(1)}% of ${p.trueClass})`)];
}

function parseKs(value: string): number[] {
  const ks = value.split(',').map((s) => Number(s.trim()));
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) throw new Error(`--k ${value}: expected positive integers separated by commas`);
  return ks;
}

interface KnnCliOptions extends EvalDataCliOptions {
  k: string;
  temperature: number;
}

export function registerKnn(program: Command): void {
  const cmd = program.command('knn').description('weighted k-NN classification accuracy (the official protocol: cosine, T = 0.07, k = 10, 20, 100, 200)');
  addEvalDataOptions(cmd)
    .option('--k <list>', 'values of k, comma-separated (those above the training-set size are dropped)', DEFAULT_KS.join(','))
    .addOption(new Option('--temperature <T>', 'softmax temperature of the neighbour weights').argParser(Number).default(DEFAULT_TEMPERATURE))
    .addHelpText(
      'after',
      [
        '',
        'Features: final-norm CLS token, L2-normalised. Neighbour weights: softmax(similarity / T) over the largest k;',
        'class score for each k: the summed weights of its neighbours among the first k. Accuracies are percentages.',
        '',
        'Examples:',
        '  $ dinov2 knn --train data/train --val data/val --model dinov2_vits14',
        '  $ dinov2 knn --train train.csv --val val.csv --model dinov2_vitb14 --k 10,20 --cache .features --json',
      ].join('\n'),
    )
    .action(async (opts: KnnCliOptions) => {
      await runKnn(opts);
    });
}

async function runKnn(opts: KnnCliOptions): Promise<void> {
  const ks = parseKs(opts.k);
  if (!(opts.temperature > 0)) throw new Error(`--temperature ${opts.temperature}: must be positive`);
  const data = await loadEvalData(opts);
  try {
    const { train, val } = data;
    const D = train.features.dim;
    const C = train.data.classes.length;
    const ev = await evalKnn(clsFeatures(train.features), train.labels, clsFeatures(val.features), val.labels, D, {
      ks,
      temperature: opts.temperature,
      numClasses: C,
      runtime: runtimeFromCli(opts),
    });
    const dropped = ks.filter((k) => !ev.ks.includes(k));
    if (dropped.length > 0) console.error(`k = ${dropped.join(', ')} exceed${dropped.length === 1 ? 's' : ''} the ${train.labels.length} training images: left out`);
    // The confusion summary is for k = 20 when used ("usually working the best"), else the best k.
    const bestK = ev.ks.reduce((b, k) => (ev.accuracy.get(k)!.top1 > ev.accuracy.get(b)!.top1 ? k : b), ev.ks[0]!);
    const shownK = ev.ks.includes(20) ? 20 : bestK;
    const pairs = mostConfusedPairs(confusionMatrix(ev.predictions.get(shownK)!, val.labels, C), train.data.classes);
    const results = ev.ks.map((k) => ({ k, top1: 100 * ev.accuracy.get(k)!.top1, top5: 100 * ev.accuracy.get(k)!.top5 }));
    if (opts.json) {
      console.log(
        JSON.stringify(
          {
            model: opts.model ?? opts.weights ?? data.model.name,
            temperature: opts.temperature,
            train: { source: train.data.source, images: train.labels.length, classes: train.data.classes },
            val: { source: val.data.source, images: val.labels.length },
            results,
            confusion: { k: shownK, pairs },
            features: { computed: data.computed, cached: data.cached },
            failures: data.failures,
          },
          null,
          2,
        ),
      );
      return;
    }
    console.log(`k-NN on ${val.labels.length} validation images, ${train.labels.length} training images, ${C} classes; T = ${opts.temperature}`);
    console.log('     k   top-1   top-5');
    for (const r of results) console.log(`  ${String(r.k).padStart(4)}  ${r.top1.toFixed(2).padStart(6)}  ${r.top5.toFixed(2).padStart(6)}`);
    for (const line of formatConfusion(pairs, `k = ${shownK}`)) console.log(line);
    if (opts.cache) console.error(`features: ${data.computed} computed, ${data.cached} from the cache`);
  } finally {
    await data.model.dispose();
  }
}
