/**
 * Runs hostile cases one after another in this process (a child of hostile.test.ts) and reports, per case,
 * a JSON line: the error message (or null), the time taken and the peak RSS above this process's baseline.
 * A `{"start": id}` line before each case lets the parent name a case that hangs.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { openWeights } from '../../src/formats/open.js';
import { loadBackbone } from '../../src/models/load.js';
import { expandInputs } from '../../src/data/inputs.js';
import { decodeImage } from '../../src/data/decode.js';
import { resolveArtifact } from '../../src/hub/resolve.js';
import { CONFORMANCE_DIR } from '../helpers.js';
import { sendCut, sendWithRange, serve } from '../hub/httpServer.js';
import type { Case } from './cases.js';

const TINY_PTH = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.pth');

/**
 * Peak RSS since the last `resetPeak`: Linux resets a process's high-water mark (VmHWM) when 5 is written
 * to /proc/self/clear_refs, so each case gets its own peak. Elsewhere the process-wide peak is used.
 */
function status(field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function resetPeak(): number {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    return process.resourceUsage().maxRSS * 1024;
  }
  return status('VmRSS') ?? process.resourceUsage().maxRSS * 1024;
}

function peakRss(): number {
  return status('VmHWM') ?? process.resourceUsage().maxRSS * 1024;
}

async function runDownload(c: Case): Promise<void> {
  const scenario = c.scenario!;
  const body = await readFile(TINY_PTH);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const commit = 'c'.repeat(40);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (scenario.startsWith('hf-')) {
      const headers: Record<string, string> = {
        'x-repo-commit': commit,
        etag: `"${sha256}"`,
        'content-length': String(body.length),
      };
      if (scenario === 'hf-etag-dotdot') headers.etag = '"../../../../../evil"';
      if (scenario === 'hf-etag-not-hex') headers.etag = 'W/"xyz-123-not-a-hash"';
      if (scenario === 'hf-etag-sha256-mismatch') headers.etag = `"${'ab'.repeat(32)}"`;
      if (scenario === 'hf-etag-sha1-mismatch') headers.etag = `"${'cd'.repeat(20)}"`;
      if (scenario === 'hf-commit-dotdot') headers['x-repo-commit'] = '../../../evil';
      if (scenario === 'hf-commit-branch') headers['x-repo-commit'] = 'main';
      if (scenario === 'hf-size-negative') headers['x-linked-size'] = '-5';
      if (scenario === 'hf-size-wrong') headers['x-linked-size'] = String(body.length + 10);
      if (req.method === 'HEAD') {
        res.writeHead(200, headers);
        res.end();
      } else sendWithRange(req, res, body);
      return;
    }
    if (scenario === 'torch-no-length') {
      res.writeHead(200);
      res.write(body.subarray(0, 1000));
      res.end(body.subarray(1000));
    } else if (scenario === 'torch-corrupt-zip') {
      const bad = Buffer.from(body);
      bad[bad.length >> 1] ^= 0x55;
      sendWithRange(req, res, bad);
    } else if (scenario === 'torch-html-page') {
      sendWithRange(req, res, Buffer.from('<html><body>Service temporarily unavailable</body></html>'));
    } else if (scenario === 'torch-http-500') {
      res.writeHead(500);
      res.end('oops');
    } else if (scenario === 'torch-short-body') {
      sendCut(res, body, 100);
    } else sendWithRange(req, res, body);
  };
  const server = await serve(handler, 60_000);
  try {
    const cache = join(c.path, 'cache');
    const env = { HF_HUB_CACHE: join(cache, 'hf'), TORCH_HOME: join(cache, 'torch'), HF_ENDPOINT: server.base, DINOV2_BASE_URL: server.base };
    let name = scenario.startsWith('hf-') ? 'facebook/dinov2-small/model.safetensors' : 'dinov2_vits14';
    const revision = { 'hf-revision-dotdot': '../../../evil', 'hf-revision-lock': 'x.lock', 'hf-revision-hidden': '.hidden', 'hf-revision-tilde': 'main~1' }[scenario];
    if (revision) name += `@${revision}`;
    if (scenario === 'torch-cached-truncated-redownloaded') {
      await mkdir(join(cache, 'torch', 'hub', 'checkpoints'), { recursive: true });
      await writeFile(join(cache, 'torch', 'hub', 'checkpoints', 'dinov2_vits14_pretrain.pth'), body.subarray(0, body.length - 100));
    }
    try {
      const path = await resolveArtifact(name, { env, progress: false });
      if (!(await readFile(path)).equals(body)) throw new Error(`${path}: resolved, but the content differs from what the server holds`);
      if (!path.startsWith(cache)) throw new Error(`${path}: outside the cache ${cache}`);
    } finally {
      // Nothing may be written beside the cache folder.
      const stray = (await readdir(c.path)).filter((n) => n !== 'cache');
      if (stray.length) throw new Error(`files written outside the cache: ${stray.join(', ')}`);
    }
  } finally {
    await server.close();
  }
}

async function runCase(c: Case): Promise<void> {
  switch (c.op) {
    case 'weights': {
      const source = await openWeights(c.path);
      try {
        for (const k of source.keys()) await source.readRaw(k);
      } finally {
        await source.close();
      }
      return;
    }
    case 'load': {
      const model = await loadBackbone(c.path);
      await model.dispose();
      return;
    }
    case 'inputs': {
      const { files } = await expandInputs([c.path]);
      if (files.length !== c.count) throw new Error(`${c.path}: ${files.length} files listed, expected ${c.count}: ${files.join(', ')}`);
      return;
    }
    case 'image':
      await decodeImage(c.path);
      return;
    case 'download':
      await runDownload(c);
      return;
  }
}

const cases = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as Case[];
for (const c of cases) {
  process.stdout.write(`${JSON.stringify({ start: c.id })}\n`);
  const baseline = resetPeak();
  const t0 = performance.now();
  let message: string | null = null;
  try {
    await runCase(c);
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ id: c.id, message, ms, rss: Math.max(0, peakRss() - baseline) })}\n`);
}
