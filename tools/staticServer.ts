/**
 * A small static file server for the browser build: serves folders under URL prefixes, answers HTTP Range
 * requests (206, as CDNs do for weights), and sends the COOP/COEP headers that make a page cross-origin
 * isolated (needed for onnxruntime-web's WASM threads). Listens on 127.0.0.1 only. Used by the browser
 * tests, bench/browser.ts and to serve examples/browser:
 *
 *   node --import tsx tools/staticServer.ts examples/browser [port]    (or: npm run example)
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.css': 'text/css',
};

export interface StaticServer {
  url: string;
  server: Server;
  /** Requests served, by path (for tests that check what was fetched). */
  log: { method: string; path: string; range?: string; status: number }[];
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** URL prefix ('/lib/') → folder. '/' is the fallback. */
  mounts: Record<string, string>;
  port?: number;
  /** Send COOP/COEP (default true). */
  isolate?: boolean;
  /** Ignore Range headers (answer 200 with the whole file), to test clients against such servers. */
  noRanges?: boolean;
  /** Ignore Range headers under these URL prefixes only. */
  noRangesUnder?: string[];
}

function locate(mounts: Record<string, string>, path: string): string | null {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (!path.startsWith(prefix)) continue;
    const dir = resolve(mounts[prefix]!);
    const file = normalize(join(dir, decodeURIComponent(path.slice(prefix.length))));
    return file === dir || file.startsWith(dir + sep) ? file : null;
  }
  return null;
}

export function startStaticServer(opts: StaticServerOptions): Promise<StaticServer> {
  const log: StaticServer['log'] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const done = (status: number): void => {
      log.push({ method: req.method ?? 'GET', path, ...(req.headers.range ? { range: req.headers.range } : {}), status });
    };
    if (opts.isolate ?? true) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    res.setHeader('Cache-Control', 'no-store');
    let file = locate(opts.mounts, path);
    let info = file ? await stat(file).catch(() => null) : null;
    if (file && info?.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file).catch(() => null);
    }
    if (!file || !info?.isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return done(404);
    }
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    const noRanges = opts.noRanges || (opts.noRangesUnder ?? []).some((p) => path.startsWith(p));
    const range = noRanges ? undefined : /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (!noRanges) res.setHeader('Accept-Ranges', 'bytes');
    if (range && (range[1] || range[2])) {
      let start = range[1] ? Number(range[1]) : info.size - Number(range[2]);
      let end = range[1] ? (range[2] ? Math.min(Number(range[2]), info.size - 1) : info.size - 1) : info.size - 1;
      start = Math.max(0, start);
      if (start > end || start >= info.size) {
        res.writeHead(416, { 'Content-Range': `bytes */${info.size}` }).end();
        return done(416);
      }
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${info.size}`, 'Content-Length': end - start + 1 });
      end = Math.max(end, start);
      if (req.method === 'HEAD') res.end();
      else createReadStream(file, { start, end }).pipe(res);
      return done(206);
    }
    res.writeHead(200, { 'Content-Length': info.size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
    return done(200);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      ok({
        url: `http://127.0.0.1:${port}`,
        server,
        log,
        close: () => new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? 'examples/browser';
  const port = Number(process.argv[3] ?? 8080);
  const s = await startStaticServer({ mounts: { '/': dir }, port });
  console.log(`serving ${dir} at ${s.url}/ (COOP/COEP set: WASM threads available); Ctrl-C stops`);
}
