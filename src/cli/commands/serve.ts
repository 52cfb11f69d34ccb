/** `dinov2 serve`: flags → serve({...}) (src/serve); runs until SIGTERM/SIGINT, then shuts down gracefully. */
import { Option, type Command } from 'commander';
import { serve } from '../../serve/server.js';
import type { HeadFiles } from '../../serve/options.js';
import { nonNegativeInt, numberOption, positiveInt } from '../inputs.js';

interface ServeCliOptions {
  model: string[];
  host: string;
  port: number;
  memoryBudget?: string;
  preload?: boolean;
  maxBatch: number;
  maxWaitMs: string;
  maxQueue: number;
  bodyLimit: string;
  maxPixels: number;
  maxImages: number;
  timeout: string;
  apiKey: string[];
  insecure?: boolean;
  cors: string[];
  allowUrls?: boolean;
  collections: string;
  db?: string;
  head: string[];
  headsModel?: string;
  logLevel: string;
  offline?: boolean;
  threads?: number;
  preprocessWorkers?: number;
}

/** `4G`, `512M`, `1e9` → bytes. */
export function parseBytes(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]i?b?)?$/i.exec(value.trim());
  if (!m) throw new Error(`${flag} must be a size such as 512M or 4G, got '${value}'`);
  const unit = (m[2] ?? '').toLowerCase()[0];
  const scale = unit === 'k' ? 2 ** 10 : unit === 'm' ? 2 ** 20 : unit === 'g' ? 2 ** 30 : unit === 't' ? 2 ** 40 : 1;
  return Math.round(Number(m[1]) * scale);
}

function parseHeads(specs: readonly string[], model: string | undefined): HeadFiles {
  const heads: HeadFiles = model ? { model } : {};
  for (const s of specs) {
    const m = /^(classify|depth|segment)=(.+)$/.exec(s);
    if (!m) throw new Error(`--head must be classify=FILE, depth=FILE or segment=FILE, got '${s}'`);
    heads[m[1] as 'classify' | 'depth' | 'segment'] = m[2]!;
  }
  return heads;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the DINOv2 HTTP service: embeddings, features, heads, image collections and a web app')
    .option('--model <name|path|id=path>', 'a model to serve (repeatable; the first is the default)', collect, [])
    .option('--host <address>', 'address to bind (non-loopback needs --api-key or --insecure)', '127.0.0.1')
    .addOption(new Option('--port <n>', 'port').argParser((v) => numberOption('--port', v, { integer: true })).default(8080))
    .option('--memory-budget <bytes>', 'model weights kept loaded, e.g. 4G (LRU eviction above it)')
    .option('--preload', 'load every model at start (/ready answers 200 once they are in)')
    .addOption(new Option('--max-batch <n>', 'images per forward pass').argParser(positiveInt).default(32))
    .option('--max-wait-ms <ms>', 'how long a batch waits for more requests', '5')
    .addOption(new Option('--max-queue <n>', 'queued images before 503').argParser(positiveInt).default(512))
    .option('--body-limit <bytes>', 'request body limit, e.g. 32M', '32M')
    .addOption(new Option('--max-pixels <n>', 'pixels per image').argParser(positiveInt).default(40_000_000))
    .addOption(new Option('--max-images <n>', 'images per request').argParser(positiveInt).default(64))
    .option('--timeout <ms>', 'per-request deadline', '60000')
    .option('--api-key <key>', 'accepted bearer token (repeatable; also DINOV2_API_KEYS, comma-separated)', collect, [])
    .option('--insecure', 'allow a non-loopback bind without API keys')
    .option('--cors <origin>', "allowed CORS origin (repeatable; '*' for any)", collect, [])
    .option('--allow-urls', 'accept http(s) image URLs (public addresses only)')
    .option('--collections <dir>', 'LanceDB folder for collections', 'dinov2-collections')
    .option('--db <dir|uri>', 'the same as --collections: a folder (shared by replicas: NFS, EFS, …) or s3://bucket/prefix (as for dinov2 index/submit)')
    .option('--head <kind=file>', 'a head for the default model: classify=FILE, depth=FILE|PRESET, segment=FILE|PRESET (presets: nyu-linear4, kitti-dpt, ade20k-ms, … for hub backbones; repeatable)', collect, [])
    .option('--heads-model <id>', 'the model the --head files belong to (default: the first)')
    .option('--log-level <level>', 'pino level (fatal, error, warn, info, debug, silent)', 'info')
    .option('--offline', 'never download hub models')
    .addOption(new Option('--threads <n>', 'onnxruntime threads per model').argParser(positiveInt))
    .addOption(new Option('--preprocess-workers <n>', 'worker threads decoding and resizing request images (0: the main thread; default 1–4 by the cores)').argParser(nonNegativeInt))
    .addHelpText(
      'after',
      [
        '',
        'Logs are JSON lines (pino) on stdout. API: /docs, /openapi.json; probes: /health, /ready; metrics: /metrics.',
        '',
        'Examples:',
        '  $ dinov2 serve --model dinov2_vits14 --preload',
        '  $ dinov2 serve --model small=dinov2_vits14 --model base=dinov2_vitb14 --memory-budget 2G',
        '  $ dinov2 serve --model dinov2_vits14 --head depth=nyu-linear4 --head segment=ade20k-linear',
        '  $ DINOV2_API_KEYS=secret-key-1 dinov2 serve --model dinov2_vitb14 --host 0.0.0.0 --cors https://app.example',
      ].join('\n'),
    )
    .action(async (opts: ServeCliOptions) => {
      const envKeys = (process.env['DINOV2_API_KEYS'] ?? '').split(',').filter((k) => k.trim().length > 0);
      const running = await serve({
        models: opts.model.length > 0 ? opts.model : ['dinov2_vits14'],
        host: opts.host,
        port: opts.port,
        ...(opts.memoryBudget ? { memoryBudget: parseBytes('--memory-budget', opts.memoryBudget) } : {}),
        preload: opts.preload ?? false,
        maxBatch: opts.maxBatch,
        maxWaitMs: numberOption('--max-wait-ms', opts.maxWaitMs),
        maxQueue: opts.maxQueue,
        bodyLimit: parseBytes('--body-limit', opts.bodyLimit),
        maxPixels: opts.maxPixels,
        maxImages: opts.maxImages,
        requestTimeoutMs: numberOption('--timeout', opts.timeout, { integer: true, min: 1 }),
        apiKeys: [...opts.apiKey, ...envKeys],
        insecure: opts.insecure ?? false,
        cors: opts.cors.includes('*') ? true : opts.cors,
        allowUrls: opts.allowUrls ?? false,
        collectionsDir: opts.db ?? opts.collections,
        heads: parseHeads(opts.head, opts.headsModel),
        logLevel: opts.logLevel,
        offline: opts.offline ?? false,
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.preprocessWorkers !== undefined ? { preprocessWorkers: opts.preprocessWorkers } : {}),
      });
      running.app.log.info({ url: running.url, models: running.app.dinov2.pool.ids }, 'listening');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          running.app.log.info({ signal }, 'shutting down: draining in-flight requests');
          running.close().then(resolve, (e) => {
            running.app.log.error({ err: e }, 'shutdown failed');
            process.exitCode = 1;
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
