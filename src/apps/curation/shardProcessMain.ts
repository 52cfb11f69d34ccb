/** The worker side of `shardProcess.ts`: loads one shard of a collection, then serves CurationShard calls. */
import { connectDb } from '../scale/storage.js';
import { shardOf } from '../scale/shard.js';
import { MemoryShard } from './distributed.js';

let rows: { path: string; embedding: Float32Array }[] = [];
let dim = 0;
let shard: MemoryShard | null = null;

interface Msg {
  id: number;
  op: 'load' | 'start' | 'call';
  method?: string;
  args?: unknown[];
  db?: string;
  table?: string;
  shard?: { index: number; count: number };
  offset?: number;
}

async function handle(m: Msg): Promise<unknown> {
  if (m.op === 'load') {
    const table = await (await connectDb(m.db!)).openTable(m.table!);
    const spec = m.shard!;
    for await (const batch of table.query().select(['path', 'embedding'])) {
      for (const r of batch.toArray() as unknown as { path: string; embedding: { toArray(): Float32Array } }[]) {
        if (spec.count > 1 && shardOf(r.path, spec.count) !== spec.index) continue;
        const e = Float32Array.from(r.embedding.toArray());
        if (dim === 0) dim = e.length;
        rows.push({ path: r.path, embedding: e });
      }
    }
    rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { n: rows.length, dim };
  }
  if (m.op === 'start') {
    const x = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => x.set(r.embedding, i * dim));
    for (const r of rows) r.embedding = new Float32Array(0);
    shard = new MemoryShard(x, m.offset!, dim);
    return null;
  }
  if (m.method === 'paths') return Array.from(m.args![0] as Int32Array, (i) => rows[i]!.path);
  if (!shard) throw new Error('shard not started');
  const fn = (shard as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[m.method!];
  if (typeof fn !== 'function') throw new Error(`unknown method ${m.method}`);
  const v = await fn.apply(shard, m.args ?? []);
  return v;
}

// Calls are answered in arrival order (the coordinator awaits each chained call before the next).
let queue: Promise<void> = Promise.resolve();
process.on('message', (m: Msg) => {
  queue = queue.then(async () => {
    try {
      process.send!({ id: m.id, ok: true, value: await handle(m) });
    } catch (e) {
      process.send!({ id: m.id, ok: false, error: (e as Error).message });
    }
  });
});
process.on('disconnect', () => process.exit(0));
