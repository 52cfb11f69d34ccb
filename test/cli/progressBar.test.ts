import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createProgressBar, lazyProgressBar, type ProgressBar, type ProgressBarOptions } from '../../src/cli/progressBar.js';

/** A bar factory that records what it was asked for. */
function recorder(): { create: (o: ProgressBarOptions) => ProgressBar; created: ProgressBarOptions[]; ticks: number[]; logs: string[]; stops: number } {
  const r = {
    created: [] as ProgressBarOptions[],
    ticks: [] as number[],
    logs: [] as string[],
    stops: 0,
    create: (o: ProgressBarOptions): ProgressBar => {
      r.created.push(o);
      return {
        tick: (n = 1) => void r.ticks.push(n),
        log: (line) => void r.logs.push(line),
        stop: () => void r.stops++,
      };
    },
  };
  return r;
}

/** A stream that looks like a terminal and keeps what is written to it. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY: true, columns: 120 });
  return { stream, text: () => out };
}

test('lazyProgressBar: an incremental run starts the bar at what was already done, then moves one by one', () => {
  const r = recorder();
  const bar = lazyProgressBar({}, r.create);
  // `dinov2 index` with 900 of 1000 files unchanged reports (900, 1000) first, then one call per embedded file.
  bar.onProgress(900, 1000);
  bar.onProgress(901, 1000);
  bar.onProgress(902, 1000);
  assert.deepEqual(r.created, [{ total: 1000, start: 900 }]);
  assert.deepEqual(r.ticks, [0, 1, 1]);
  assert.equal(r.created[0]!.start! + r.ticks.reduce((a, b) => a + b, 0), 902);
});

test('lazyProgressBar: a fresh run starts at 0 (index) or at the first report (dedup); jumps tick by the difference', () => {
  for (const first of [0, 1]) {
    const r = recorder();
    const bar = lazyProgressBar({ quiet: true }, r.create);
    for (const done of [first, first + 1, first + 4, first + 5]) bar.onProgress(done, 10);
    assert.deepEqual(r.created, [{ total: 10, start: first, quiet: true }]);
    assert.deepEqual(r.ticks, [0, 1, 3, 1]);
  }
});

test('lazyProgressBar: log goes to stderr until the bar exists and after it stopped; stop is idempotent', (t) => {
  const errors: string[] = [];
  t.mock.method(console, 'error', (line: string) => void errors.push(line));
  const r = recorder();
  const bar = lazyProgressBar({}, r.create);
  bar.stop(); // before any report: nothing to stop, and no bar is made later
  assert.equal(r.stops, 0);

  const r2 = recorder();
  const bar2 = lazyProgressBar({}, r2.create);
  bar2.log('before');
  bar2.onProgress(0, 3);
  bar2.log('during');
  bar2.stop();
  bar2.stop();
  bar2.log('after');
  bar2.onProgress(1, 3);
  assert.deepEqual(errors, ['before', 'after']);
  assert.deepEqual(r2.logs, ['during']);
  assert.equal(r2.stops, 1);
  assert.deepEqual(r2.ticks, [0]);
  bar.onProgress(1, 3);
  assert.equal(r.created.length, 0);
});

test('createProgressBar on a terminal: shows the count from `start`, and lines logged just before stop are written', () => {
  const { stream, text } = fakeTerminal();
  const bar = lazyProgressBar({}, (o) => createProgressBar({ ...o, stream }));
  bar.onProgress(900, 1000);
  bar.onProgress(901, 1000);
  bar.log('skipped x.jpg: broken');
  bar.stop();
  bar.stop();
  const out = text();
  assert.match(out, /901\/1000 images/);
  assert.doesNotMatch(out, /\b[0-9]\/1000/);
  assert.match(out, /skipped x\.jpg: broken\n/);
});

test('createProgressBar: silent when the stream is not a terminal or with quiet, logging straight to it', () => {
  for (const quiet of [false, true]) {
    const { stream, text } = fakeTerminal();
    if (!quiet) Object.assign(stream, { isTTY: false });
    const bar = createProgressBar({ total: 5, start: 2, stream, quiet });
    bar.tick();
    bar.log('a line');
    bar.stop();
    assert.equal(text(), 'a line\n');
  }
});
