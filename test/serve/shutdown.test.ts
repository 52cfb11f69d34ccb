import { test } from 'node:test';
import assert from 'node:assert/strict';
import { b64, scenePng, startChild } from './helpers.js';
import { withTempDir } from '../helpers.js';

test('SIGTERM: the queued request is still answered, then the process exits 0 and stops listening', { timeout: 120_000 }, async () => {
  await withTempDir(async (dir) => {
    // Batches wait 1.5 s, so the request below is queued when the signal arrives.
    const { child, url } = await startChild(dir, ['--max-wait-ms', '1500', '--preload']);
    try {
      for (let i = 0; i < 200 && (await fetch(`${url}/ready`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
      const img = b64(await scenePng(300, 40, 40));
      const pending = fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: [img] }) });
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      child.kill('SIGTERM');
      const r = await pending;
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { data: unknown[] }).data.length, 1);
      assert.equal(await exited, 0);
      await assert.rejects(fetch(`${url}/health`));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
