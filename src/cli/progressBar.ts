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
  const bar = multi.create(opts.total, 0, { rate: '0.0' });
  let value = 0;
  return {
    tick(n = 1) {
      value += n;
      const seconds = (Date.now() - started) / 1000;
      bar.update(value, { rate: seconds > 0 ? (value / seconds).toFixed(1) : '0.0' });
    },
    log: (line) => multi.log(`${line}\n`),
    stop: () => multi.stop(),
  };
}
