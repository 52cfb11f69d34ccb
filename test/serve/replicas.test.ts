/**
 * `dinov2 serve` as stateless replicas: two server processes on one collection folder (what a shared
 * filesystem gives several pods). What one acknowledges, the other serves; concurrent adds through both
 * leave every id once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { b64, scenePng, startChild } from './helpers.js';
import { withTempDir } from '../helpers.js';

async function call(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url + path, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: await r.json() };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGTERM');
  await exited;
}

test('two serve replicas on one collection folder: adds, searches and deletes cross over; concurrent adds keep each id once', { timeout: 300_000 }, async () => {
  await withTempDir(async (dir) => {
    const scenes = await Promise.all(Array.from({ length: 8 }, (_, i) => scenePng(300 + i, 64, 48)));
    const [a, b] = await Promise.all([startChild(dir, ['--db', dir]), startChild(dir, ['--db', dir])]);
    try {
      // Created through A; B sees the same collection (201 then 200, same config).
      let r = await call(a.url, 'PUT', '/v1/collections/shared', { size: 56 });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      r = await call(b.url, 'PUT', '/v1/collections/shared', { size: 56 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.size, 56);
      r = await call(b.url, 'PUT', '/v1/collections/shared', { size: 112 });
      assert.equal(r.status, 409);

      // Added through A, found through B.
      r = await call(a.url, 'POST', '/v1/collections/shared/images', { images: [0, 1, 2].map((i) => ({ id: `scene-${i}`, image: b64(scenes[i]!) })) });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      r = await call(b.url, 'POST', '/v1/collections/shared/search', { image: b64(scenes[1]!), k: 3 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.data[0].id, 'scene-1');
      assert.ok(r.json.data[0].similarity > 0.999);
      assert.equal(r.json.data.length, 3);

      // Deleted through B, gone through A.
      r = await call(b.url, 'DELETE', '/v1/collections/shared/images/scene-1');
      assert.equal(r.status, 200, JSON.stringify(r.json));
      r = await call(a.url, 'POST', '/v1/collections/shared/search', { image: b64(scenes[1]!), k: 5 });
      assert.deepEqual(r.json.data.map((h: { id: string }) => h.id).sort(), ['scene-0', 'scene-2']);
      r = await call(a.url, 'GET', '/v1/collections/shared');
      assert.equal(r.json.count, 2);

      // Concurrent adds through both replicas, every id sent by both (several requests each).
      const ids = Array.from({ length: 8 }, (_, i) => `c-${i}`);
      const batches = [ids.slice(0, 4), ids.slice(4), ids.slice(2, 6), ids];
      const sends = [a, b].flatMap((srv) =>
        batches.map((batch) => call(srv.url, 'POST', '/v1/collections/shared/images', { images: batch.map((id) => ({ id, image: b64(scenes[Number(id.slice(2))]!), metadata: { via: srv === a ? 'a' : 'b' } })) })),
      );
      for (const s of await Promise.all(sends)) assert.equal(s.status, 200, JSON.stringify(s.json));
      for (const srv of [a, b]) {
        r = await call(srv.url, 'GET', '/v1/collections/shared/images?limit=100');
        assert.equal(r.status, 200, JSON.stringify(r.json));
        const listed = r.json.data.map((x: { id: string }) => x.id);
        assert.deepEqual(listed, [...ids, 'scene-0', 'scene-2'].sort(), 'every id exactly once');
        r = await call(srv.url, 'GET', '/v1/collections/shared');
        assert.equal(r.json.count, 10);
      }
      // Each of the concurrently written rows is whole: searching with its image finds it first.
      r = await call(b.url, 'POST', '/v1/collections/shared/search', { image: b64(scenes[5]!), k: 1 });
      assert.equal(r.json.data[0].id, 'c-5');
    } finally {
      await Promise.all([stop(a.child), stop(b.child)]);
    }
  });
});
