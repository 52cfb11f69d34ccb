/**
 * A progress bar on stderr for long commands: count, rate and ETA. Silent when stderr is not a terminal (logs,
 * pipes, CI) or with --quiet. Messages logged through it appear above the bar instead of tearing it; without a
 * bar they go straight to stderr.
 */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  tick(n?: number): void;
  /** One line of text (no trailing newline needed). */
  log(line: string): void;
  stop(): void;
}

export interface ProgressBarOptions {
  total: number;
  /** The unit in the rate (default 'images'). */
  unit?: string;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  /** Items already done when the bar appears (shown, but left out of the rate and ETA). Default 0. */
  start?: number;
}

export function createProgressBar(opts: ProgressBarOptions): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet || !stream.isTTY) {
    return {
      tick() {},
      log: (line) => void stream.write(`${line}\n`),
      stop() {},
    };
  }
  const unit = opts.unit ?? 'images';
  const started = Date.now();
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: `{bar} {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = opts.start ?? 0;
  const bar = multi.create(opts.total, start, { rate: '0.0' });
  let value = start;
  let stopped = false;
  return {
    tick(n = 1) {
      value += n;
      const seconds = (Date.now() - started) / 1000;
      bar.update(value, { rate: seconds > 0 ? ((value - start) / seconds).toFixed(1) : '0.0' });
    },
    log: (line) => multi.log(`${line}\n`),
    stop() {
      if (stopped) return;
      stopped = true;
      // A last redraw writes out the lines logged since the previous one (the bar redraws on a timer), which
      // stopping alone would drop.
      multi.update();
      multi.stop();
    },
  };
}

/**
 * A progress bar for work that reports `onProgress(done, total)` and only learns its total once it has started:
 * the bar appears on the first report (showing what was already done then, e.g. files skipped as unchanged)
 * and moves by the difference between reports. `log` writes above the bar, or to stderr before it appears or
 * after it stopped; `stop` may be called more than once.
 */
export interface LazyProgressBar {
  onProgress(done: number, total: number): void;
  log(line: string): void;
  stop(): void;
}

export function lazyProgressBar(
  opts: Pick<ProgressBarOptions, 'quiet' | 'unit'> = {},
  create: (opts: ProgressBarOptions) => ProgressBar = createProgressBar,
): LazyProgressBar {
  let bar: ProgressBar | null = null;
  let shown = 0;
  let stopped = false;
  return {
    onProgress(done, total) {
      if (stopped) return;
      if (!bar) {
        bar = create({ total, start: done, ...(opts.unit !== undefined ? { unit: opts.unit } : {}), ...(opts.quiet ? { quiet: true } : {}) });
        shown = done;
      }
      bar.tick(done - shown);
      shown = done;
    },
    log(line) {
      if (bar && !stopped) bar.log(line);
      else console.error(line);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar?.stop();
    },
  };
}
