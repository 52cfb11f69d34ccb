import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedExclusiveGate } from '../../src/data/decodeGate.js';

const tick = () => new Promise<void>((r) => setTimeout(r, 5));

test('an exclusive run waits for the shared runs in flight, and shared runs asked for after it wait for it', async () => {
  const gate = new SharedExclusiveGate();
  const log: string[] = [];
  const job = (name: string) => async () => {
    log.push(`${name} start`);
    await tick();
    log.push(`${name} end`);
  };
  const a = gate.runShared(job('a'));
  const b = gate.runShared(job('b'));
  const x = gate.runExclusive(job('x'));
  const c = gate.runShared(job('c'));
  await Promise.all([a, b, x, c]);
  assert.deepEqual(log, ['a start', 'b start', 'a end', 'b end', 'x start', 'x end', 'c start', 'c end']);
});

test('a task that throws releases the gate', async () => {
  const gate = new SharedExclusiveGate();
  await assert.rejects(gate.runExclusive(async () => { throw new Error('boom'); }), /boom/);
  await assert.rejects(gate.runShared(async () => { throw new Error('bang'); }), /bang/);
  assert.equal(await gate.runExclusive(async () => 7), 7);
});
