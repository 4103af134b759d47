/**
 * `declip shards create`: convert a dataset into WebDataset shards with a sidecar index.
 *
 * ```sh
 * declip shards create --from synthetic --count 2000 --seed 3 --out d/syn-%06d.tar --max-count 500
 * declip shards create --from folder --input photos --out out/photos-%06d.tar --max-size 1e9
 * declip shards create --from csv --input pairs.tsv --out out/pairs-%06d.tar
 * declip shards create --from fashion-mnist --input /usr/share/datasets/fashion-mnist --split test --out out/fm-test-%06d.tar
 * ```
 *
 * Progress goes to stderr: a bar with rate and ETA when stderr is a terminal, and always
 * a final one-line summary. `--json` also prints the summary as JSON on stdout. Bad
 * input exits non-zero with a message naming the option or file.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { DeclipError, InvalidOptionError } from '../core/errors.js';
import { invalidOption } from '../core/validate.js';
import {
  CONVERTER_KINDS,
  convertToShards,
  converters,
  type ConverterArgs,
  type ConverterKind,
  type ConvertProgress,
  type ConvertResult,
} from '../datasets/convert/index.js';
import { shardIndexPathFor } from '../datasets/shard-index.js';
import { runShardsCreateUrls, URLS_ONLY_FLAGS, type UrlsCommandOptions } from './shards-create-urls.js';

/** Where the command writes (process streams by default; tests pass their own). */
export interface ShardsCreateIO {
  readonly stdout: Writable;
  readonly stderr: Writable & { readonly isTTY?: boolean };
  readonly signal?: AbortSignal | undefined;
}

/** The command's options as commander hands them over (strings until parsed). */
export interface ShardsCreateCommandOptions extends UrlsCommandOptions {
  readonly from: string;
  readonly out: string;
  readonly input?: string;
  readonly maxCount?: string;
  readonly maxSize?: string;
  readonly count?: string;
  readonly seed?: string;
  readonly split?: string;
  readonly imageSize?: string;
  readonly limit?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly overwrite?: boolean;
  readonly incremental?: boolean;
}

/** Parse a non-negative integer option (`--count 2000`). */
export function parseIntegerOption(flag: string, text: string, min = 0): number {
  if (!/^\d+$/.test(text.trim())) throw invalidOption(flag, `integer of at least ${min}`, text);
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < min) throw invalidOption(flag, `integer of at least ${min}`, text);
  return n;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/**
 * Parse a byte count: `1000000`, `1e9`, `500MB`, `1.5GiB` (k/M/G are powers of 1000,
 * KiB/MiB/GiB of 1024).
 *
 * @example
 * ```ts
 * parseByteSize('--max-size', '64MiB'); // 67108864
 * ```
 */
export function parseByteSize(flag: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
  const n = m === null || unit === undefined ? NaN : Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw invalidOption(flag, 'byte count of at least 1 (e.g. 1000000, 1e9, 500MB, 1GiB)', text);
  }
  return n;
}

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** A one-line summary of a conversion. */
export function summaryLine(result: ConvertResult, pattern: string, seconds: number): string {
  const { totals } = result.index;
  const skipped = Object.entries(result.skipped)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const rate = seconds > 0 ? Math.round(totals.samples / seconds) : totals.samples;
  return (
    `declip: wrote ${totals.samples} samples in ${totals.shards} shard${totals.shards === 1 ? '' : 's'} ` +
    `(${formatBytes(totals.bytes)}) to ${pattern} in ${seconds.toFixed(1)} s (${rate} samples/s); ` +
    `index ${shardIndexPathFor(pattern)}` +
    (skipped === '' ? '' : `; skipped: ${skipped}`)
  );
}

/**
 * Run `shards create` with parsed-from-text options. Resolves to the exit code.
 *
 * @example
 * ```ts
 * await runShardsCreate({ from: 'synthetic', count: '100', out: 'd/syn-%06d.tar' });
 * ```
 */
export async function runShardsCreate(
  opts: ShardsCreateCommandOptions,
  io: ShardsCreateIO = { stdout: process.stdout, stderr: process.stderr },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (opts.from === 'urls') return await runShardsCreateUrls(opts, io, { integer: parseIntegerOption, bytes: parseByteSize }, env);
  if (!(CONVERTER_KINDS as readonly string[]).includes(opts.from)) {
    throw invalidOption('--from', `one of ${[...CONVERTER_KINDS, 'urls'].join(', ')}`, opts.from);
  }
  const kind = opts.from as ConverterKind;
  for (const name of URLS_ONLY_FLAGS) {
    if (name !== 'incremental' && opts[name] !== undefined) {
      const flag = '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      throw new InvalidOptionError(flag, `${flag} applies to --from urls only`);
    }
  }
  if (opts.overwrite === true && opts.incremental === true) {
    throw new InvalidOptionError('--incremental', '--incremental and --overwrite exclude each other (one keeps completed shards, the other replaces them)');
  }
  if (opts.incremental === true) {
    throw new InvalidOptionError('--incremental', `--incremental applies to --from urls (--from ${kind} splits by count and size, so a rerun cannot tell which shards are complete: use --overwrite)`);
  }
  if (opts.split !== undefined && opts.split !== 'train' && opts.split !== 'test') {
    throw invalidOption('--split', 'one of train, test', opts.split);
  }
  const args: ConverterArgs = {
    ...(opts.input === undefined ? {} : { input: opts.input }),
    ...(opts.count === undefined ? {} : { count: parseIntegerOption('--count', opts.count) }),
    ...(opts.seed === undefined ? {} : { seed: parseIntegerOption('--seed', opts.seed) }),
    ...(opts.split === undefined ? {} : { split: opts.split }),
    ...(opts.imageSize === undefined ? {} : { imageSize: parseIntegerOption('--image-size', opts.imageSize, 16) }),
    ...(opts.limit === undefined ? {} : { limit: parseIntegerOption('--limit', opts.limit) }),
  };
  const maxCount = opts.maxCount === undefined ? undefined : parseIntegerOption('--max-count', opts.maxCount, 1);
  const maxSize = opts.maxSize === undefined ? undefined : parseByteSize('--max-size', opts.maxSize);
  const used: Record<ConverterKind, readonly string[]> = {
    synthetic: ['count', 'seed', 'imageSize'],
    folder: ['input'],
    csv: ['input'],
    'fashion-mnist': ['input', 'split', 'seed', 'limit'],
  };
  for (const name of Object.keys(args)) {
    if (!used[kind].includes(name)) {
      const flag = '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      throw new InvalidOptionError(flag, `${flag} does not apply to --from ${kind} (it takes ${used[kind].map((n) => '--' + n.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')})`);
    }
  }

  let source;
  try {
    source = await converters[kind](args);
  } catch (err) {
    // Converters name their own fields; on the command line they are flags.
    if (err instanceof InvalidOptionError && !err.field.startsWith('--')) {
      const flag = '--' + err.field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      throw new InvalidOptionError(flag, err.message.replace(` for ${err.field} `, ` for ${flag} `), { cause: err });
    }
    throw err;
  }
  const started = performance.now();
  const tty = io.stderr.isTTY === true && opts.quiet !== true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: 'shards create |{bar}| {percentage}% {value}/{total} samples | {rate}/s | ETA {eta_formatted} | shards {shards}',
          stream: io.stderr as NodeJS.WritableStream,
          etaBuffer: 50,
          fps: 5,
          hideCursor: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(source.total ?? 0, 0, { rate: 0, shards: 0 });
  const onProgress = (p: ConvertProgress): void => {
    if (bar === undefined) return;
    const seconds = (performance.now() - started) / 1000;
    const skipped = Object.values(p.skipped).reduce((a, b) => a + b, 0);
    bar.update(p.done + skipped, { rate: seconds > 0 ? Math.round(p.done / seconds) : 0, shards: p.shards });
  };
  let result: ConvertResult;
  try {
    result = await convertToShards(
      source,
      {
        pattern: opts.out,
        existing: opts.overwrite === true ? 'overwrite' : 'refuse',
        ...(maxCount === undefined ? {} : { maxCount }),
        ...(maxSize === undefined ? {} : { maxSize }),
      },
      { onProgress, ...(io.signal === undefined ? {} : { signal: io.signal }) },
    );
  } catch (err) {
    if (err instanceof InvalidOptionError && err.field === 'pattern') {
      throw new InvalidOptionError('--out', err.message.replace(' for pattern ', ' for --out '), { cause: err });
    }
    throw err;
  } finally {
    bar?.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (opts.quiet !== true) io.stderr.write(summaryLine(result, opts.out, seconds) + '\n');
  for (const ex of result.skippedExamples.slice(0, 5)) {
    if (opts.quiet !== true) io.stderr.write(`declip: skipped ${ex.item} (${ex.reason})\n`);
  }
  if (opts.json === true) {
    io.stdout.write(
      JSON.stringify({
        index: shardIndexPathFor(opts.out),
        shards: result.index.totals.shards,
        samples: result.index.totals.samples,
        bytes: result.index.totals.bytes,
        skipped: result.skipped,
        seconds: Number(seconds.toFixed(3)),
      }) + '\n',
    );
  }
  return 0;
}

/** Register `create` on the `shards` command. */
export function registerShardsCreate(parent: Command): void {
  parent
    .command('create')
    .description('convert a dataset (image folder, CSV/TSV, Fashion-MNIST, synthetic shapes, a URL list) into tar shards with an index')
    .addOption(new Option('--from <kind>', 'what to convert').choices([...CONVERTER_KINDS, 'urls']).makeOptionMandatory())
    .option('--input <path>', 'folder (folder, fashion-mnist), CSV/TSV file (csv), URL list .csv/.tsv/.jsonl/.parquet (urls)')
    .requiredOption('--out <pattern>', 'shard name pattern with %06d, e.g. out/name-%06d.tar (folders are created)')
    .option('--max-count <n>', 'most samples per shard (default 100000); urls: rows per shard (default 10000)')
    .option('--max-size <bytes>', 'most bytes per shard: 1000000, 1e9, 500MB, 1GiB (default 3e9)')
    .option('--count <n>', 'synthetic: number of samples')
    .option('--seed <s>', 'synthetic: dataset seed; fashion-mnist: caption seed (default 0)')
    .addOption(new Option('--split <split>', 'fashion-mnist: which files to convert').choices(['train', 'test']))
    .option('--image-size <n>', 'synthetic: image side in pixels (default 64); urls: resize target (default 256)')
    .option('--limit <n>', 'fashion-mnist: convert only the first N images')
    .option('--overwrite', 'replace existing shards and index (and remove stale higher-numbered shards of the pattern)')
    .option('--incremental', 'urls: keep completed shards, redo unfinished ones (resume an interrupted run)')
    .option('--url-col <name>', 'urls: the URL column (default url)')
    .option('--caption-col <name>', 'urls: the caption column (default caption; none when absent)')
    .option('--concurrency <n>', 'urls: downloads in flight (default min(64, 16 x cores))')
    .option('--workers <n>', 'urls: decode/resize/encode threads (default: the core count)')
    .option('--timeout <seconds>', 'urls: bound on connect, response headers and each body gap (default 10)')
    .option('--retries <n>', 'urls: retries on 5xx, 429, connection errors and timeouts, with backoff (default 2)')
    .option('--max-bytes <bytes>', 'urls: most bytes per image (default 64MiB)')
    .option('--max-pixels <n>', 'urls: images with more pixels fail as too-large before decoding (default 40000000)')
    .addOption(new Option('--resize-mode <mode>', 'urls: img2dataset resize mode (default border)').choices(['no', 'keep_ratio', 'keep_ratio_largest', 'center_crop', 'border']))
    .addOption(new Option('--encode <format>', 'urls: image format of the shards (default jpg)').choices(['jpg', 'webp', 'png']))
    .option('--quality <q>', 'urls: JPEG/WebP quality 1-100 (default 95)')
    .option('--min-image-size <n>', 'urls: fail images whose smaller side is under N (too-small; default off)')
    .option('--max-aspect-ratio <r>', 'urls: fail images with larger/smaller side over R (bad-aspect-ratio; default off)')
    .option('--rank <r>', 'urls: this process writes shards n with n % world-size == rank (default: RANK, JOB_COMPLETION_INDEX, SLURM_*, OMPI_* env)')
    .option('--world-size <w>', 'urls: number of processes splitting the shards (default: WORLD_SIZE, SLURM_*, OMPI_* env, else 1)')
    .option('--json', 'also print a JSON summary on stdout')
    .option('--quiet', 'no progress and no summary on stderr')
    .action(async (opts: ShardsCreateCommandOptions, cmd: Command) => {
      // Ctrl-C removes the shard being written (completed shards stay, no index).
      const interrupt = new AbortController();
      const onSigint = (): void => interrupt.abort(new DeclipError('interrupted: the partial shard was removed, no index written'));
      process.once('SIGINT', onSigint);
      try {
        const code = await runShardsCreate(opts, { stdout: process.stdout, stderr: process.stderr, signal: interrupt.signal });
        if (code !== 0) cmd.error('', { exitCode: code });
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
