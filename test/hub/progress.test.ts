import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, terminalProgress } from '../../src/hub/progress.js';

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 200, write: (s: string) => out.push(s) } };
}

test('formats sizes and durations', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(300 * 1024 * 1024), '300.0 MiB');
  assert.equal(formatDuration(75), '1:15');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(Infinity), '--:--');
});

test('not a terminal: one summary line at the end, nothing per chunk', () => {
  const { out, stream } = fakeStream(false);
  let t = 0;
  const p = terminalProgress('w.pth', { stream, now: () => t });
  p.start(4 * 1024 * 1024, 1024 * 1024);
  for (let i = 0; i < 3; i++) {
    t += 500;
    p.tick(1024 * 1024);
  }
  p.done();
  p.done(); // idempotent
  assert.deepEqual(out, ['w.pth: 3.00 MiB in 1.5 s, 2.00 MiB/s (resumed at 1.00 MiB)\n']);
});

test('terminal: redrawn line with percentage, speed and ETA, throttled', () => {
  const { out, stream } = fakeStream(true);
  let t = 0;
  const p = terminalProgress('w.pth', { stream, now: () => t, intervalMs: 100 });
  p.start(10 * 1024 * 1024);
  t = 1000;
  p.tick(1024 * 1024); // drawn
  p.tick(1024); // throttled: same instant
  t = 1050;
  p.tick(1024); // throttled: < 100 ms later
  p.done();
  assert.equal(out.length, 4); // start, one tick, final redraw, newline
  assert.match(out[1]!, /^\rw\.pth {2}1\.00 MiB \/ 10\.0 MiB {2}10\.0% {2}1\.00 MiB\/s {2}ETA 0:09\x1b\[K$/);
  assert.equal(out[3], '\n');
});
