/** `dinov2 submit`, `dinov2 worker`, `dinov2 jobs status`: embedding on a BullMQ job queue over Redis (docs/SCALING.md). */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { expandInputs } from '../../data/inputs.js';
import { DEFAULT_COLLECTION_TABLE, DEFAULT_QUEUE, queueStatus, runWorker, submitImages } from '../../apps/scale/queue.js';
import { parseShard, selectShard, type ShardSpec } from '../../apps/scale/shard.js';
import { isObjectStoreUri } from '../../apps/scale/storage.js';
import { positiveInt } from '../inputs.js';
import { addModelOptions, type ModelCliOptions } from '../modelOptions.js';
import { DEFAULT_RETRIEVAL_MODEL, loadRetrievalModel } from '../retrievalModel.js';

const QUEUE_HELP = 'Redis URL of the queue, e.g. redis://redis:6379 (env DINOV2_QUEUE)';

interface SubmitCliOptions {
  queue?: string;
  name: string;
  db: string;
  table: string;
  size: number;
  jobSize: number;
  attempts: number;
  shard?: ShardSpec;
  json?: boolean;
}

function queueUrl(opts: { queue?: string }): string {
  const url = opts.queue ?? process.env['DINOV2_QUEUE'];
  if (!url) throw new Error('--queue is required (or set DINOV2_QUEUE), e.g. --queue redis://127.0.0.1:6379');
  return url;
}

export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description('queue images for "dinov2 worker" processes: jobs of --job-size paths, rows go to --db (docs/SCALING.md)')
    .argument('<images...>', 'image files, folders (searched recursively) or quoted globs; workers must see the same paths')
    .option('--queue <url>', QUEUE_HELP)
    .option('--name <queue>', 'queue name', DEFAULT_QUEUE)
    .requiredOption('--db <dir|uri>', 'collection: a folder (shared filesystem) or s3://bucket/path (AWS_* environment)')
    .option('--table <name>', 'table name', DEFAULT_COLLECTION_TABLE)
    .addOption(new Option('--size <pixels>', 'eval transform crop side').argParser(positiveInt).default(224))
    .addOption(new Option('--job-size <n>', 'image paths per job').argParser(positiveInt).default(64))
    .addOption(new Option('--attempts <n>', 'tries per job (exponential backoff from 1 s)').argParser(positiveInt).default(5))
    .addOption(new Option('--shard <i/N>', 'submit only shard i of N of the inputs').argParser((v) => parseShard(v)))
    .option('--json', 'print the report as JSON')
    .action(async (images: string[], opts: SubmitCliOptions) => {
      const { files, problems } = await expandInputs(images);
      for (const p of problems) console.error(`skipped ${p.path}: ${p.reason}`);
      const chosen = (opts.shard ? selectShard(files, opts.shard) : files).map((f) => resolve(f));
      // A folder is named absolutely in the jobs: workers run elsewhere (mount it at the same path).
      const db = isObjectStoreUri(opts.db) ? opts.db : resolve(opts.db);
      const report = await submitImages(chosen, { queue: queueUrl(opts), name: opts.name, db, table: opts.table, size: opts.size, batchSize: opts.jobSize, attempts: opts.attempts });
      if (opts.json) console.log(JSON.stringify({ jobs: report.jobs, images: report.images }, null, 2));
      else console.log(`${report.images} images in ${report.jobs} jobs on ${opts.name}`);
      if (problems.length > 0) process.exitCode = 1;
    });
}

interface WorkerCliOptions extends ModelCliOptions {
  queue?: string;
  name: string;
  batch: number;
  lockMs: number;
  quiet?: boolean;
}

export function registerWorker(program: Command): void {
  const cmd = program.command('worker').description('take embedding jobs from the queue until stopped (SIGTERM finishes the job in hand)');
  addModelOptions(cmd, { quietHelp: 'no per-job log lines' });
  cmd
    .option('--queue <url>', QUEUE_HELP)
    .option('--name <queue>', 'queue name', DEFAULT_QUEUE)
    .addOption(new Option('--batch <n>', 'images per forward pass').argParser(positiveInt).default(8))
    .addOption(new Option('--lock-ms <ms>', 'job lock; a dead worker\'s job is taken over after this').argParser(positiveInt).default(30000))
    .addHelpText('after', `\nDefault model ${DEFAULT_RETRIEVAL_MODEL}; every worker of a queue must load the same model.\n\nExample:\n  $ dinov2 worker --queue redis://redis:6379 --model dinov2_vits14`)
    .action(async (opts: WorkerCliOptions) => {
      const url = queueUrl(opts);
      const { model, modelName } = await loadRetrievalModel(opts);
      const log = (s: string): void => {
        if (!opts.quiet) console.error(s);
      };
      const worker = await runWorker({
        queue: url,
        name: opts.name,
        model,
        modelName: modelName ?? opts.weights!,
        batch: opts.batch,
        lockDurationMs: opts.lockMs,
        stalledIntervalMs: Math.min(30000, Math.max(1000, Math.floor(opts.lockMs / 2))),
        onJobDone: (job, r) => log(`job ${job}: ${r.written} written${r.failed.length ? `, ${r.failed.length} unreadable: ${r.failed.map((f) => f.path).join(', ')}` : ''}`),
        onJobFailed: (job, reason) => log(`job ${job} failed: ${reason}`),
      });
      log(`worker ${process.pid} on ${opts.name} at ${url.replace(/\/\/[^@]*@/, '//***@')}`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          log('stopping after the job in hand');
          void worker.close().then(done);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await model.dispose();
    });
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('the embedding queue: "dinov2 jobs status"');
  jobs
    .command('status')
    .description('job counts and image progress over all workers')
    .option('--queue <url>', QUEUE_HELP)
    .option('--name <queue>', 'queue name', DEFAULT_QUEUE)
    .option('--json', 'print as JSON')
    .action(async (opts: { queue?: string; name: string; json?: boolean }) => {
      const s = await queueStatus(queueUrl(opts), opts.name);
      if (opts.json) {
        console.log(JSON.stringify(s, null, 2));
        return;
      }
      console.log(`${s.name}: ${s.waiting} waiting, ${s.active} active, ${s.delayed} delayed (retry backoff), ${s.completed} completed, ${s.failed} failed`);
      console.log(`images: ${s.images.done} of ${s.images.total} done`);
      for (const j of s.activeJobs) console.log(`  active ${j.id}: ${j.done}/${j.total} (attempt ${j.attempts + 1})`);
      for (const j of s.failedJobs) console.log(`  failed ${j.id} after ${j.attempts} attempts: ${j.reason}`);
    });
}
