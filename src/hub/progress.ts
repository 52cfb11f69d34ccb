/**
 * Download progress. `downloadFile` only talks to the tiny `Progress` interface, so any bar library (e.g.
 * cli-progress) can be plugged in by wrapping it; `terminalProgress` is the dependency-free default.
 */

export interface Progress {
  /**
   * Called once per transfer before the first byte. `total` is the full file size when known; `initial` is the
   * number of bytes already on disk when resuming (they count towards the total but not towards the speed).
   */
  start(total?: number, initial?: number): void;
  /** Called with each chunk's byte count. */
  tick(bytes: number): void;
  /** Called once when the transfer ends, successfully or not. */
  done(): void;
}

export const silentProgress: Progress = { start() {}, tick() {}, done() {} };

export interface TerminalProgressOptions {
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Minimum time between two redraws (a redraw per chunk would cost more than the download on a fast link). */
  intervalMs?: number;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * Progress on stderr: a redrawn line (bytes, MiB/s, ETA) when the stream is a terminal, and a single summary
 * line at the end otherwise, so logs and CI output are not flooded with carriage returns.
 */
export function terminalProgress(label: string, opts: TerminalProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const interval = opts.intervalMs ?? 100;
  const now = opts.now ?? (() => Date.now());
  const tty = stream.isTTY === true;
  let total: number | undefined;
  let initial = 0;
  let received = 0;
  let t0 = 0;
  let lastDraw = -Infinity;
  let finished = false;

  const speed = (): number => {
    const dt = (now() - t0) / 1000;
    return dt > 0 ? received / dt : 0;
  };
  const line = (): string => {
    const have = initial + received;
    const v = speed();
    const parts = [label, total !== undefined ? `${formatBytes(have)} / ${formatBytes(total)}` : formatBytes(have)];
    if (total !== undefined && total > 0) parts.push(`${((100 * have) / total).toFixed(1)}%`);
    parts.push(`${formatBytes(v)}/s`);
    if (total !== undefined) parts.push(`ETA ${v > 0 ? formatDuration((total - have) / v) : '--:--'}`);
    return parts.join('  ');
  };
  const draw = (): void => {
    const cols = (stream as { columns?: number }).columns ?? 100;
    stream.write(`\r${line().slice(0, Math.max(20, cols - 1))}\x1b[K`);
  };

  return {
    start(t?: number, init = 0) {
      total = t;
      initial = init;
      received = 0;
      t0 = now();
      finished = false;
      if (tty) draw();
    },
    tick(bytes: number) {
      received += bytes;
      if (!tty) return;
      const t = now();
      if (t - lastDraw >= interval) {
        lastDraw = t;
        draw();
      }
    },
    done() {
      if (finished) return;
      finished = true;
      const seconds = (now() - t0) / 1000;
      if (tty) {
        draw();
        stream.write('\n');
      } else {
        const resumed = initial > 0 ? ` (resumed at ${formatBytes(initial)})` : '';
        stream.write(`${label}: ${formatBytes(received)} in ${seconds.toFixed(1)} s, ${formatBytes(speed())}/s${resumed}\n`);
      }
    },
  };
}
