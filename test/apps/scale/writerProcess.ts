/**
 * One of several concurrent writers of a collection: `writerProcess.ts <db> <writer> <commits> <rows per commit>`.
 * Writer w upserts ids row-<w>-<j> and, to make writers collide on keys, shared-<j> (every writer writes
 * the same shared ids, with its own values). Prints "done" at the end.
 */
import { openCollection } from '../../../src/apps/scale/collection.js';
import { upsertRows } from '../../../src/apps/scale/upsert.js';

const [db, w, commits, perCommit] = process.argv.slice(2);
const table = await openCollection(db!, 'images', 4);
const row = (id: string, v: number) => ({ id, path: `/data/${id}.jpg`, sha256: 'x'.repeat(64), size: v, mtime: v, model: 'm', model_key: 'k', pool: 'cls', image_size: 224, embedding: [v, v + 1, v + 2, v + 3] });
for (let c = 0; c < Number(commits); c++) {
  const rows = [];
  for (let j = 0; j < Number(perCommit); j++) rows.push(row(`row-${w}-${c * Number(perCommit) + j}`, Number(w) * 1000 + c * Number(perCommit) + j));
  rows.push(row(`shared-${c}`, Number(w)));
  await upsertRows(table, 'id', rows, { tries: 50 });
}
process.stdout.write('done\n');
