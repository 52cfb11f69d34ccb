import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadFile, DownloadError, INCOMPLETE_SUFFIX } from '../../src/hub/download.js';
import type { Progress } from '../../src/hub/progress.js';
import { deadUrl, payload, sendCut, sendWithRange, serve, withTemp } from './httpServer.js';

const BODY = payload(300_000);
const SHA = createHash('sha256').update(BODY).digest('hex');

function recorder(): Progress & { starts: [number | undefined, number | undefined][]; ticked: number; dones: number } {
  const r = {
    starts: [] as [number | undefined, number | undefined][],
    ticked: 0,
    dones: 0,
    start(total?: number, initial?: number) {
      r.starts.push([total, initial]);
    },
    tick(n: number) {
      r.ticked += n;
    },
    done() {
      r.dones++;
    },
  };
  return r;
}

async function missing(path: string): Promise<boolean> {
  return stat(path).then(
    () => false,
    () => true,
  );
}

test('downloads a whole file, checks size and sha256, reports progress, leaves no partial file', async () => {
  const server = await serve((req, res) => sendWithRange(req, res, BODY));
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'sub', 'w.pth');
      const progress = recorder();
      const r = await downloadFile(server.url('/w.pth'), dest, { expectedSize: BODY.length, sha256: SHA, onProgress: progress });
      assert.deepEqual(r, { path: dest, size: BODY.length, resumedFrom: 0 });
      assert.ok((await readFile(dest)).equals(BODY));
      assert.ok(await missing(dest + INCOMPLETE_SUFFIX));
      assert.deepEqual(progress.starts, [[BODY.length, 0]]);
      assert.equal(progress.ticked, BODY.length);
      assert.equal(progress.dones, 1);
      assert.equal(server.requests[0]!.range, undefined);
    });
  } finally {
    await server.close();
  }
});

test('a transfer cut midway keeps its partial file, and the next call resumes it with Range', async () => {
  const server = await serve((req, res, n) => (n === 0 ? sendCut(res, BODY, 100_000) : sendWithRange(req, res, BODY)));
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      const url = server.url('/w.pth');
      const err = await downloadFile(url, dest, { retries: 0 }).then(
        () => assert.fail('should fail'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof DownloadError);
      assert.equal(err.code, 'network');
      assert.match(err.message, new RegExp(`${url}.*${dest}`));
      assert.match(err.message, /connection lost after \d+ of 300000 bytes/);
      assert.ok(await missing(dest));
      const have = (await stat(dest + INCOMPLETE_SUFFIX)).size;
      assert.ok(have > 0 && have < BODY.length, `partial size ${have}`);

      const progress = recorder();
      const r = await downloadFile(url, dest, { sha256: SHA, onProgress: progress });
      assert.equal(r.resumedFrom, have);
      assert.equal(server.requests[1]!.range, `bytes=${have}-`);
      assert.deepEqual(progress.starts, [[BODY.length, have]]);
      assert.equal(progress.ticked, BODY.length - have); // only the rest travelled
      assert.ok((await readFile(dest)).equals(BODY));
      assert.ok(await missing(dest + INCOMPLETE_SUFFIX));
    });
  } finally {
    await server.close();
  }
});

test('one call resumes by itself after the connection drops', async () => {
  const server = await serve((req, res, n) => (n === 0 ? sendCut(res, BODY, 50_000) : sendWithRange(req, res, BODY)));
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      const r = await downloadFile(server.url('/w.pth'), dest, { expectedSize: BODY.length, sha256: SHA });
      assert.equal(server.requests.length, 2);
      assert.match(server.requests[1]!.range ?? '', /^bytes=\d+-$/);
      assert.ok(r.resumedFrom > 0);
      assert.ok((await readFile(dest)).equals(BODY));
    });
  } finally {
    await server.close();
  }
});

test('a server that ignores Range (200) makes the download start over', async () => {
  const server = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': BODY.length });
    res.end(BODY);
  });
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      await writeFile(dest + INCOMPLETE_SUFFIX, Buffer.from('stale bytes'));
      const r = await downloadFile(server.url('/w.pth'), dest, { sha256: SHA });
      assert.equal(server.requests[0]!.range, 'bytes=11-');
      assert.equal(r.resumedFrom, 0);
      assert.ok((await readFile(dest)).equals(BODY));
    });
  } finally {
    await server.close();
  }
});

test('a complete partial file answered with 416 is accepted', async () => {
  const server = await serve((req, res) => sendWithRange(req, res, BODY));
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      await writeFile(dest + INCOMPLETE_SUFFIX, BODY);
      const r = await downloadFile(server.url('/w.pth'), dest, { sha256: SHA });
      assert.equal(server.requests[0]!.range, `bytes=${BODY.length}-`);
      assert.equal(r.size, BODY.length);
      assert.ok((await readFile(dest)).equals(BODY));
    });
  } finally {
    await server.close();
  }
});

test('follows redirects', async () => {
  const server = await serve((req, res) => {
    if (req.url === '/old') {
      res.writeHead(302, { location: '/new' });
      res.end();
    } else sendWithRange(req, res, BODY);
  });
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      await downloadFile(server.url('/old'), dest);
      assert.deepEqual(
        server.requests.map((r) => r.path),
        ['/old', '/new'],
      );
      assert.ok((await readFile(dest)).equals(BODY));
    });
  } finally {
    await server.close();
  }
});

test('size mismatch: against the expected size before transfer, and against the bytes received', async () => {
  const server = await serve((req, res) => {
    if (req.url === '/chunked') {
      res.writeHead(200); // no Content-Length: the size is only known at the end
      res.end(BODY);
    } else sendWithRange(req, res, BODY);
  });
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      const url = server.url('/w.pth');
      await assert.rejects(downloadFile(url, dest, { expectedSize: BODY.length + 10 }), (e: unknown) => {
        assert.ok(e instanceof DownloadError);
        assert.equal(e.code, 'size');
        assert.ok(e.message.includes(url) && e.message.includes(dest), e.message);
        assert.match(e.message, new RegExp(`server reports ${BODY.length} bytes, expected ${BODY.length + 10}`));
        return true;
      });
      assert.ok(await missing(dest));

      await assert.rejects(downloadFile(server.url('/chunked'), dest, { expectedSize: BODY.length - 1 }), (e: unknown) => {
        assert.ok(e instanceof DownloadError && e.code === 'size');
        assert.match(e.message, new RegExp(`received ${BODY.length} bytes, expected ${BODY.length - 1}`));
        return true;
      });
      assert.ok(await missing(dest));
      assert.ok(await missing(dest + INCOMPLETE_SUFFIX));
    });
  } finally {
    await server.close();
  }
});

test('sha256 mismatch removes the bad bytes', async () => {
  const server = await serve((req, res) => sendWithRange(req, res, BODY));
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      await assert.rejects(downloadFile(server.url('/w.pth'), dest, { sha256: '0'.repeat(64) }), (e: unknown) => {
        assert.ok(e instanceof DownloadError && e.code === 'sha256');
        assert.ok(e.message.includes(SHA), e.message);
        return true;
      });
      assert.ok(await missing(dest));
      assert.ok(await missing(dest + INCOMPLETE_SUFFIX));
    });
  } finally {
    await server.close();
  }
});

test('HTTP 404 names the status, the URL and the file, and is not retried', async () => {
  const server = await serve((_req, res) => {
    res.writeHead(404);
    res.end('nope');
  });
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      const url = server.url('/missing.pth');
      await assert.rejects(downloadFile(url, dest), (e: unknown) => {
        assert.ok(e instanceof DownloadError);
        assert.equal(e.code, 'http');
        assert.equal(e.status, 404);
        assert.equal(e.message, `download of ${url} to ${dest} failed: HTTP 404 not found`);
        return true;
      });
      assert.equal(server.requests.length, 1);
      assert.ok(await missing(dest));
    });
  } finally {
    await server.close();
  }
});

test('a refused connection is a network error, reported at once', async () => {
  const base = await deadUrl();
  await withTemp(async (dir) => {
    const t0 = Date.now();
    await assert.rejects(downloadFile(`${base}/w.pth`, join(dir, 'w.pth')), (e: unknown) => {
      assert.ok(e instanceof DownloadError && e.code === 'network');
      assert.match(e.message, /network error: fetch failed \(ECONNREFUSED\)/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000);
  });
});

test('an abort stops the transfer and keeps the partial file for later', async () => {
  const server = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': BODY.length });
    res.write(BODY.subarray(0, 10_000)); // then stalls
  });
  try {
    await withTemp(async (dir) => {
      const dest = join(dir, 'w.pth');
      const controller = new AbortController();
      const onProgress: Progress = { start() {}, tick: () => controller.abort(), done() {} };
      await assert.rejects(downloadFile(server.url('/w.pth'), dest, { signal: controller.signal, onProgress }), (e: unknown) => {
        assert.ok(e instanceof DownloadError && e.code === 'aborted', String(e));
        assert.match(e.message, /run again to resume/);
        return true;
      });
      assert.ok(await missing(dest));
      assert.equal(server.requests.length, 1);
    });
  } finally {
    await server.close();
  }
});
