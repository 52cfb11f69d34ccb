/** `dinov2 search <image> --db PATH`: the most similar indexed images (cosine on normalised CLS embeddings). */
import { Option, type Command } from 'commander';
import { DEFAULT_TABLE } from '../../apps/retrieval/indexImages.js';
import { describeIndex, searchImage } from '../../apps/retrieval/search.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, loadModelFromCli, type ModelCliOptions } from '../modelOptions.js';

interface SearchCliOptions extends ModelCliOptions {
  db: string;
  table: string;
  k: number;
  json?: boolean;
}

export function registerSearch(program: Command): void {
  const cmd = program
    .command('search')
    .description('find the indexed images most similar to an image (index them first with "dinov2 index")')
    .argument('<image>', 'query image file');
  addModelOptions(cmd);
  cmd
    .requiredOption('--db <dir>', 'LanceDB folder written by "dinov2 index"')
    .option('--table <name>', 'table name', DEFAULT_TABLE)
    .addOption(new Option('--k <n>', 'number of results').argParser(positiveInt).default(10))
    .option('--json', 'print JSON: [{path, distance, similarity}]')
    .addHelpText(
      'after',
      [
        '',
        'Without --model, the model the index was built with is used. distance = 1 − cosine similarity.',
        '',
        'Examples:',
        '  $ dinov2 search query.jpg --db photos.lance --k 5',
        '  $ dinov2 search query.jpg --db photos.lance --model dinov2_vits14 --json',
      ].join('\n'),
    )
    .action(async (image: string, opts: SearchCliOptions) => {
      await runSearch(image, opts);
    });
}

async function runSearch(image: string, opts: SearchCliOptions): Promise<void> {
  let modelName = opts.model;
  if (modelName === undefined && opts.weights === undefined) {
    const info = await describeIndex(opts.db, opts.table);
    if (info.models.length === 0) throw new Error(`${opts.db}: the index is empty`);
    modelName = info.models[0]!.model;
  }
  const model = await loadModelFromCli({ ...opts, ...(modelName !== undefined ? { model: modelName } : {}) });
  try {
    const hits = await searchImage(image, { db: opts.db, model, k: opts.k, table: opts.table });
    if (opts.json) console.log(JSON.stringify(hits, null, 2));
    else for (const [i, h] of hits.entries()) console.log(`${String(i + 1).padStart(3)}  ${h.similarity.toFixed(4)}  ${h.path}`);
  } finally {
    await model.dispose();
  }
}
