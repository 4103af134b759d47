/**
 * `declip shards create --from urls`: build shards from a URL list (CSV, TSV, JSONL,
 * Parquet), as img2dataset does.
 *
 * ```sh
 * declip shards create --from urls --input cc3m.tsv --url-col url --caption-col caption \
 *   --out cc3m/cc3m-%06d.tar --max-count 10000 --image-size 256 --resize-mode center_crop
 * ```
 *
 * Exit code 0 when the run completes, however many rows failed (each is counted by
 * class in the shard's `_stats.json`, the index meta and the summary); non-zero only for
 * bad options, an unreadable list, or write errors. With `--json` the last stdout line
 * is `{ index, shards, samples, bytes, skipped, seconds, failed, failures }`.
 */
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import { InvalidOptionError } from '../core/errors.js';
import { resolveLaunch } from '../core/launch.js';
import { expectOneOf, invalidOption } from '../core/validate.js';
import { openUrlList } from '../datasets/convert/url-list.js';
import { ENCODINGS, RESIZE_MODES } from '../pipeline/ingest/image.js';
import { ingestUrls, type IngestProgress, type IngestResult } from '../pipeline/ingest/ingest.js';
import type { ShardsCreateCommandOptions, ShardsCreateIO } from './shards-create.js';

/** The `--from urls` options (strings until parsed). */
export interface UrlsCommandOptions {
  readonly urlCol?: string;
  readonly captionCol?: string;
  readonly concurrency?: string;
  readonly workers?: string;
  readonly timeout?: string;
  readonly retries?: string;
  readonly maxBytes?: string;
  readonly maxPixels?: string;
  readonly resizeMode?: string;
  readonly encode?: string;
  readonly quality?: string;
  readonly minImageSize?: string;
  readonly maxAspectRatio?: string;
  readonly rank?: string;
  readonly worldSize?: string;
}

/** The flags only `--from urls` takes (for the does-not-apply check of other sources). */
export const URLS_ONLY_FLAGS: readonly (keyof UrlsCommandOptions | 'incremental')[] = [
  'urlCol',
  'captionCol',
  'concurrency',
  'workers',
  'timeout',
  'retries',
  'maxBytes',
  'maxPixels',
  'resizeMode',
  'encode',
  'quality',
  'minImageSize',
  'maxAspectRatio',
  'rank',
  'worldSize',
];

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw invalidOption(flag, 'positive number', text);
  return n;
}

/** A one-line summary of an ingestion run. */
export function urlsSummaryLine(r: IngestResult, pattern: string, seconds: number): string {
  const { totals } = r.index;
  const failures = Object.entries(r.failures)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const rate = seconds > 0 ? Math.round(r.written / seconds) : r.written;
  return (
    `declip: wrote ${totals.samples} samples in ${totals.shards} shard${totals.shards === 1 ? '' : 's'} to ${pattern} in ${seconds.toFixed(1)} s ` +
    `(${rate} samples/s this run${r.kept > 0 ? `, ${r.kept} shard${r.kept === 1 ? '' : 's'} kept from an earlier run` : ''}); ` +
    `${r.failed} of ${r.attempted} rows failed${failures === '' ? '' : ` (${failures})`}` +
    (r.worldSize > 1 ? `; rank ${r.rank} of ${r.worldSize}` : '') +
    `; index ${r.indexPath}` +
    (r.removed.length > 0 ? `; removed ${r.removed.length} stale file${r.removed.length === 1 ? '' : 's'}` : '')
  );
}

/**
 * Run `shards create --from urls`. `parse` turns the shared flags into numbers (the
 * caller's integer and byte-size parsers). Resolves to the exit code.
 */
export async function runShardsCreateUrls(
  opts: ShardsCreateCommandOptions & UrlsCommandOptions,
  io: ShardsCreateIO,
  parse: { integer: (flag: string, text: string, min?: number) => number; bytes: (flag: string, text: string) => number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (opts.input === undefined) throw new InvalidOptionError('--input', '--input is required for --from urls (a .csv, .tsv, .jsonl or .parquet URL list)');
  for (const [flag, value] of [
    ['--count', opts.count],
    ['--seed', opts.seed],
    ['--split', opts.split],
    ['--limit', opts.limit],
    ['--max-size', opts.maxSize],
  ] as const) {
    if (value !== undefined) {
      throw new InvalidOptionError(flag, `${flag} does not apply to --from urls (shards hold --max-count rows each, so rows map to shards the same way on every run)`);
    }
  }
  if (opts.overwrite === true && opts.incremental === true) {
    throw new InvalidOptionError('--incremental', '--incremental and --overwrite exclude each other (one keeps completed shards, the other replaces them)');
  }
  const int = parse.integer;
  const launch = resolveLaunch(
    {
      ...(opts.rank === undefined ? {} : { rank: int('--rank', opts.rank) }),
      ...(opts.worldSize === undefined ? {} : { worldSize: int('--world-size', opts.worldSize, 1) }),
    },
    env,
  );
  const image = {
    ...(opts.imageSize === undefined ? {} : { imageSize: int('--image-size', opts.imageSize, 1) }),
    ...(opts.resizeMode === undefined ? {} : { resizeMode: expectOneOf('--resize-mode', opts.resizeMode, RESIZE_MODES) }),
    ...(opts.encode === undefined ? {} : { encode: expectOneOf('--encode', opts.encode, ENCODINGS) }),
    ...(opts.quality === undefined ? {} : { quality: int('--quality', opts.quality, 1) }),
    ...(opts.maxPixels === undefined ? {} : { maxPixels: int('--max-pixels', opts.maxPixels, 1) }),
    ...(opts.minImageSize === undefined ? {} : { minImageSize: int('--min-image-size', opts.minImageSize) }),
    ...(opts.maxAspectRatio === undefined ? {} : { maxAspectRatio: positiveNumber('--max-aspect-ratio', opts.maxAspectRatio) }),
  };
  if (image.quality !== undefined && image.quality > 100) throw invalidOption('--quality', 'integer from 1 to 100', opts.quality);
  const download = {
    ...(opts.timeout === undefined ? {} : { timeoutMs: Math.round(positiveNumber('--timeout', opts.timeout) * 1000) }),
    ...(opts.retries === undefined ? {} : { retries: int('--retries', opts.retries) }),
    ...(opts.maxBytes === undefined ? {} : { maxBytes: parse.bytes('--max-bytes', opts.maxBytes) }),
  };
  const list = await openUrlList({
    input: opts.input,
    ...(opts.urlCol === undefined ? {} : { urlCol: opts.urlCol }),
    ...(opts.captionCol === undefined ? {} : { captionCol: opts.captionCol }),
  });

  const started = performance.now();
  const tty = io.stderr.isTTY === true && opts.quiet !== true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format:
            'shards create |{bar}| {percentage}% {value}/{total} rows | {rate} samples/s | ok {okRate}% | ETA {eta_formatted} | shards {shards}',
          stream: io.stderr as NodeJS.WritableStream,
          etaBuffer: 200,
          fps: 5,
          hideCursor: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let barStarted = false;
  const onProgress = (p: IngestProgress): void => {
    if (bar === undefined) return;
    if (!barStarted) {
      bar.start(p.total, 0, { rate: 0, okRate: 100, shards: 0 });
      barStarted = true;
    }
    const seconds = (performance.now() - started) / 1000;
    bar.update(p.done, {
      rate: seconds > 0 ? Math.round(p.written / seconds) : 0,
      okRate: p.done > 0 ? Math.round((100 * p.written) / p.done) : 100,
      shards: p.shards,
    });
  };
  let result: IngestResult;
  try {
    result = await ingestUrls(list, {
      pattern: opts.out,
      existing: opts.overwrite === true ? 'overwrite' : opts.incremental === true ? 'incremental' : 'refuse',
      rank: launch.rank,
      worldSize: launch.worldSize,
      ...(opts.maxCount === undefined ? {} : { rowsPerShard: int('--max-count', opts.maxCount, 1) }),
      ...(opts.concurrency === undefined ? {} : { concurrency: int('--concurrency', opts.concurrency, 1) }),
      workers: opts.workers === undefined ? availableParallelism() : int('--workers', opts.workers, 1),
      image,
      download,
      onProgress,
      ...(io.signal === undefined ? {} : { signal: io.signal }),
    });
  } catch (err) {
    if (err instanceof InvalidOptionError && err.field === 'pattern') {
      throw new InvalidOptionError('--out', err.message.replace(' for pattern ', ' for --out '), { cause: err });
    }
    throw err;
  } finally {
    if (barStarted) bar?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (opts.quiet !== true) io.stderr.write(urlsSummaryLine(result, opts.out, seconds) + '\n');
  if (opts.json === true) {
    io.stdout.write(
      JSON.stringify({
        index: result.indexPath,
        shards: result.index.totals.shards,
        samples: result.index.totals.samples,
        bytes: result.index.totals.bytes,
        skipped: {},
        seconds: Number(seconds.toFixed(3)),
        failed: result.failed,
        failures: result.failures,
      }) + '\n',
    );
  }
  return 0;
}
