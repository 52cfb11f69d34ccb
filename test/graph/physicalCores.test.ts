import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { countPhysicalCores, parseCpuList, physicalCores } from '../../src/graph/physicalCores.js';

test('cpu lists are read as Linux writes them', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  assert.deepEqual(parseCpuList('5'), [5]);
  assert.throws(() => parseCpuList('0-3,x'), /cannot read 'x'/);
});

test('SMT siblings count as one core; CPUs outside the affinity do not count', () => {
  // 4 logical CPUs, 2 cores with 2 threads each (siblings 0/2 and 1/3, as Linux numbers them).
  const topo = (cpu: number) => `0:${cpu % 2}`;
  assert.equal(countPhysicalCores([0, 1, 2, 3], topo), 2);
  assert.equal(countPhysicalCores([0, 2], topo), 1);
  // Two sockets with the same core ids are different cores.
  assert.equal(countPhysicalCores([0, 1], (cpu) => `${cpu}:0`), 2);
  // Unknown topology: each logical CPU is a core.
  assert.equal(countPhysicalCores([0, 1, 2], () => undefined), 3);
});

test('the default thread count is between 1 and the logical CPUs this process may use', () => {
  const n = physicalCores();
  assert.ok(Number.isInteger(n) && n >= 1 && n <= availableParallelism(), String(n));
});
