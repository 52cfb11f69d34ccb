/**
 * A throwaway HTTP server on 127.0.0.1 (random port) for download tests: records every request, and shuts
 * itself down after a while so a failing test cannot keep the process alive.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SeenRequest {
  method: string;
  path: string;
  range?: string;
}

export interface TestServer {
  base: string;
  url(path: string): string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** `handler` gets the request, the response and the 0-based number of this request to the server. */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
  lifetimeMs = 20_000,
): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const n = requests.length;
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', range: req.headers.range });
    handler(req, res, n);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }));
  setTimeout(() => void close(), lifetimeMs).unref();
  return { base, url: (p) => base + p, requests, close };
}

/** Serves `body` with Range support (206 + Content-Range), as a static file server would. */
export function sendWithRange(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const m = req.headers.range?.match(/^bytes=(\d+)-$/);
  if (m) {
    const start = Number(m[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      res.end();
      return;
    }
    res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length });
  res.end(body);
}

/** Sends the headers of the whole file but only `cut` bytes of it, then drops the connection. */
export function sendCut(res: ServerResponse, body: Buffer, cut: number): void {
  res.writeHead(200, { 'content-length': body.length });
  res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 20));
}

/** A port nothing listens on (bound, then released). */
export async function deadUrl(): Promise<string> {
  const s = await serve(() => {});
  await s.close();
  return s.base;
}

export async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'dinov2-hub-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function payload(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
