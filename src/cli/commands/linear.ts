/** `dinov2 linear --train T --val V --out head.safetensors`: the official linear probe (or logistic regression) on frozen features. */
import { Option, type Command } from 'commander';
import { clsFeatures } from '../../eval/features.js';
import { DEFAULT_LEARNING_RATES, trainLinearProbe } from '../../eval/linear.js';
import { C_GRID, evalLogRegression } from '../../eval/logRegression.js';
import { confusionMatrix, mostConfusedPairs } from '../../eval/metrics.js';
import { makeLinearHead, saveLinearHead } from '../../heads/classifier.js';
import { positiveInt } from '../inputs.js';
import { backboneIdentity, identityMetadata } from '../../heads/backboneIdentity.js';
import { runtimeFromCli } from '../modelOptions.js';
import { addEvalDataOptions, formatConfusion, loadEvalData, type EvalDataCliOptions } from './knn.js';

interface LinearCliOptions extends EvalDataCliOptions {
  out: string;
  method: 'sgd' | 'logreg';
  epochs: number;
  epochLength?: number;
  batchSize: number;
  lrs?: string;
  blocks: string;
  seed: number;
}

function numberList(flag: string, value: string): number[] {
  const xs = value.split(',').map((s) => Number(s.trim()));
  if (xs.length === 0 || xs.some((x) => !(x > 0))) throw new Error(`${flag} ${value}: expected positive numbers separated by commas`);
  return xs;
}

export function registerLinear(program: Command): void {
  const cmd = program.command('linear').description('train a linear classifier on frozen features (official linear probe grid, or logistic regression) and save it as a head');
  addEvalDataOptions(cmd)
    .requiredOption('--out <file.safetensors>', 'where the best classifier goes (usable with "dinov2 classify --head")')
    .addOption(new Option('--method <m>', 'sgd: the linear-probe grid (linear.py); logreg: L-BFGS logistic regression on the CLS token (log_regression.py)').choices(['sgd', 'logreg']).default('sgd'))
    .addOption(new Option('--epochs <n>', 'sgd: epochs').argParser(positiveInt).default(10))
    .addOption(new Option('--epoch-length <n>', 'sgd: iterations per epoch (default: one pass over the training set)').argParser(positiveInt))
    .addOption(new Option('--batch-size <n>', 'sgd: training batch (learning rates are scaled by batch/256)').argParser(positiveInt).default(128))
    .option('--lrs <list>', `sgd: base learning rates (default: the official 13, ${DEFAULT_LEARNING_RATES[0]} … ${DEFAULT_LEARNING_RATES.at(-1)})`)
    .option('--blocks <list>', 'sgd: n_last_blocks values (CLS tokens of the last n blocks)', '1,4')
    .addOption(new Option('--seed <n>', 'initialisation and batch order').argParser(Number).default(0))
    .addHelpText(
      'after',
      [
        '',
        'sgd trains every (n_last_blocks, avgpool, lr) classifier at once on the same batches (SGD momentum 0.9,',
        'cosine schedule) and keeps the one with the best validation top-1. logreg sweeps C over 10^[-6, 5]',
        '(45 values) on a 10% split of the training set. Accuracies are percentages.',
        '',
        'Examples:',
        '  $ dinov2 linear --train data/train --val data/val --model dinov2_vits14 --out head.safetensors',
        '  $ dinov2 linear --train train.csv --val val.csv --model dinov2_vitb14 --lrs 0.001,0.01 --epochs 5 --cache .features --out h.safetensors',
        '  $ dinov2 classify photo.jpg --model dinov2_vits14 --head head.safetensors',
      ].join('\n'),
    )
    .action(async (opts: LinearCliOptions) => {
      await runLinear(opts);
    });
}

async function runLinear(opts: LinearCliOptions): Promise<void> {
  if (!opts.out.toLowerCase().endsWith('.safetensors')) throw new Error(`--out ${opts.out}: the head is written as .safetensors`);
  const lrs = opts.lrs ? numberList('--lrs', opts.lrs) : undefined;
  const blocks = numberList('--blocks', opts.blocks);
  if (blocks.some((b) => !Number.isInteger(b))) throw new Error(`--blocks ${opts.blocks}: expected integers`);
  const data = await loadEvalData(opts);
  try {
    const { train, val, model } = data;
    const classes = train.data.classes;
    const C = classes.length;
    const D = train.features.dim;
    const modelName = opts.model ?? opts.weights ?? model.name;
    const info = { model: modelName, image_size: String(opts.size), method: opts.method, ...identityMetadata(await backboneIdentity(data.model)) };
    let summary: Record<string, unknown>;
    let predictions: Int32Array;
    let headLine: string;
    if (opts.method === 'logreg') {
      const ev = evalLogRegression(clsFeatures(train.features), train.labels, clsFeatures(val.features), val.labels, D, C, { seed: opts.seed });
      predictions = ev.predictions;
      const head = makeLinearHead(Float32Array.from(ev.model.weight), Float32Array.from(ev.model.bias), { numClasses: C, inFeatures: D }, { nLastBlocks: 1, avgpool: false, classNames: classes, embedDim: D });
      await saveLinearHead(opts.out, head, { ...info, C: String(ev.bestC), val_top1: String(100 * ev.accuracy.top1) });
      summary = { method: 'logreg', bestC: ev.bestC, top1: 100 * ev.accuracy.top1, top5: 100 * ev.accuracy.top5, sweep: ev.sweep.map((s) => ({ C: s.C, heldOutTop1: 100 * s.top1 })) };
      headLine = `logistic regression, C = ${ev.bestC.toPrecision(3)} (of ${C_GRID.length}, chosen on 10% of train): val top-1 ${(100 * ev.accuracy.top1).toFixed(2)}  top-5 ${(100 * ev.accuracy.top5).toFixed(2)}`;
    } else {
      const r = await trainLinearProbe(train.features, train.labels, val.features, val.labels, C, {
        ...(lrs ? { learningRates: lrs } : {}),
        epochs: opts.epochs,
        ...(opts.epochLength ? { epochLength: opts.epochLength } : {}),
        batchSize: opts.batchSize,
        nLastBlocksList: blocks,
        seed: opts.seed,
        runtime: runtimeFromCli(opts),
      });
      predictions = r.predictions;
      const b = r.best;
      const head = makeLinearHead(b.weight, b.bias, { numClasses: C, inFeatures: b.inFeatures }, { nLastBlocks: b.nLastBlocks, avgpool: b.avgpool, classNames: classes, embedDim: D });
      await saveLinearHead(opts.out, head, { ...info, classifier: b.name, lr: String(b.lr), val_top1: String(100 * b.valTop1) });
      const ranked = [...r.classifiers].sort((x, y) => y.valTop1 - x.valTop1 || y.valTop5 - x.valTop5);
      summary = {
        method: 'sgd',
        iterations: r.iterations,
        batchSize: r.batchSize,
        best: { name: b.name, nLastBlocks: b.nLastBlocks, avgpool: b.avgpool, lr: b.lr, top1: 100 * b.valTop1, top5: 100 * b.valTop5 },
        classifiers: r.classifiers.map((c) => ({ name: c.name, nLastBlocks: c.nLastBlocks, avgpool: c.avgpool, lr: c.lr, top1: 100 * c.valTop1, top5: 100 * c.valTop5 })),
      };
      headLine = [
        `linear probe: ${r.classifiers.length} classifiers, ${r.iterations} iterations of batch ${r.batchSize}`,
        `best: ${b.name}  val top-1 ${(100 * b.valTop1).toFixed(2)}  top-5 ${(100 * b.valTop5).toFixed(2)}`,
        ...ranked.slice(1, 4).map((c) => `      ${c.name}  val top-1 ${(100 * c.valTop1).toFixed(2)}  top-5 ${(100 * c.valTop5).toFixed(2)}`),
      ].join('\n');
    }
    const pairs = mostConfusedPairs(confusionMatrix(predictions, val.labels, C), classes);
    if (opts.json) {
      console.log(JSON.stringify({ model: modelName, train: { images: train.labels.length, classes }, val: { images: val.labels.length }, ...summary, confusion: pairs, out: opts.out, failures: data.failures }, null, 2));
      return;
    }
    console.log(headLine);
    for (const line of formatConfusion(pairs, 'best classifier on val')) console.log(line);
    console.log(`head → ${opts.out}`);
  } finally {
    await data.model.dispose();
  }
}
