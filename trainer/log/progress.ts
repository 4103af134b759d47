/**
 * A progress bar with ETA on a TTY (cli-progress), silent otherwise.
 *
 * @example
 * ```ts
 * const bar = createProgress(100, process.stderr);
 * bar.update(1, { loss: 4.2 });
 * bar.stop();
 * ```
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(step: number, values: { loss: number; samplesPerSecond: number }): void;
  /** Idempotent. */
  stop(): void;
}

const SILENT: Progress = Object.freeze({ update: () => undefined, stop: () => undefined });

/** A bar over `total` steps on `stream` when it is a TTY (or `force`), else a no-op. */
export function createProgress(total: number, stream: NodeJS.WriteStream = process.stderr, start = 0, force = false): Progress {
  if (!force && stream.isTTY !== true) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'train [{bar}] {value}/{total} | loss {loss} | {sps} samples/s | ETA {eta_formatted}',
      etaBuffer: 20,
      hideCursor: true,
      noTTYOutput: force,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, { loss: '-', sps: '-' });
  let stopped = false;
  return {
    update(step, values) {
      if (!stopped) bar.update(step, { loss: values.loss.toFixed(4), sps: values.samplesPerSecond.toFixed(1) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
