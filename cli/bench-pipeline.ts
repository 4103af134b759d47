/**
 * `declip bench pipeline`: the full input pipeline over the whole input (read, decode,
 * two mocov2 views, caption + EDA caption + MLM mask, batch) with a consumer that only
 * takes batches, the same work as ../shared/bench/anchor_pipeline_py.py. Samples/s are
 * timed from the end of the first batch, as the anchor does.
 *
 * @example
 * ```sh
 * declip bench pipeline --shards '/tmp/photos/photos-{000000..000003}.tar' --workers 2 --json
 * ```
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidOptionError } from '../core/errors.js';
import { readSamples } from '../datasets/reader/index.js';
import { CaptionTokenizer } from '../augment/text/tokenizer.js';
import { createPipeline } from '../pipeline/pipeline.js';
import type { MetricsSnapshot } from '../pipeline/metrics.js';
import type { PipelineOptions, ResolvedPipelineOptions } from '../pipeline/options.js';
import { onShardErrorOption } from './reliability-options.js';
import type { ErrorPolicy } from '../pipeline/operators/error-policy.js';

interface BenchPipelineFlags {
  readonly shards: string;
  readonly workers?: string;
  readonly batch: string;
  readonly size: string;
  readonly onError: string;
  /** A shard that cannot be opened: throw (default), warn, skip. */
  readonly onShardError?: ErrorPolicy;
  readonly tokenizer?: string;
  readonly vocabSize: string;
  readonly shuffle: string;
  readonly samplesPerTask?: string;
  readonly tasksPerWorker?: string;
  readonly prefetch?: string;
  readonly seed: string;
  readonly loaderThread?: boolean;
  readonly stepMs?: string;
  readonly decodeOnly?: boolean;
  /** true (default), or false with --no-shared-batches. */
  readonly sharedBatches?: boolean;
  /** false with --no-release: a consumer that never hands batches back. */
  readonly release?: boolean;
  readonly scaling?: boolean;
  readonly jpegDecoder: string;
  readonly json?: boolean;
}

/** Keep the main thread busy, as a synchronous tfjs training step does. */
function blockMainThread(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // simulated training step
  }
}

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidOptionError(name, `Expected integer for --${name} but received "${value}"`);
  return Number.parseInt(value, 10);
}

/** Train a tokenizer on the shards' captions (bad samples are passed over). */
async function trainTokenizer(shards: string, vocabSize: number, file: string, onShardError: ErrorPolicy = 'throw'): Promise<void> {
  const reader = readSamples({ urls: shards, onError: 'skip', onShardError });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  async function* captions(): AsyncGenerator<string> {
    for await (const s of reader) {
      const txt = s.files['txt'];
      if (txt === undefined) continue;
      try {
        yield decoder.decode(txt);
      } catch {
        // not UTF-8: the pipeline counts it; the tokenizer does not need it
      }
    }
  }
  try {
    const tok = await CaptionTokenizer.train(captions(), { vocabSize });
    await tok.save(file);
  } finally {
    await reader.close();
  }
}

function jpegDecoder(value: string): 'turbo' | 'sharp' {
  if (value !== 'turbo' && value !== 'sharp') {
    throw new InvalidOptionError('jpeg-decoder', `Expected one of turbo, sharp for --jpeg-decoder but received "${value}"`);
  }
  return value;
}

interface Measured {
  readonly m: MetricsSnapshot;
  readonly o: ResolvedPipelineOptions;
  readonly describe: string;
  readonly seconds: number;
  readonly firstBatchMs: number;
  readonly cpuMsPerSample: number;
  readonly mainBusy: number;
}

/** One pass of the pipeline with a consumer that only takes (and releases) batches. */
async function measure(options: PipelineOptions, stepMs: number, release: boolean): Promise<Measured> {
  const pipeline = createPipeline(options);
  try {
    const started = performance.now();
    let firstBatchMs = 0;
    // CPU of the whole process (all threads) and the main thread's busy share, over the
    // timed part (from the end of the first batch), as samples/s is.
    let cpuAtFirst = process.cpuUsage();
    let eluAtFirst = performance.eventLoopUtilization();
    let samplesAtFirst = 0;
    for await (const batch of pipeline) {
      if (batch.position.batchIndex === 0) {
        firstBatchMs = performance.now() - started;
        cpuAtFirst = process.cpuUsage();
        eluAtFirst = performance.eventLoopUtilization();
        samplesAtFirst = batch.size;
      }
      if (stepMs > 0) blockMainThread(stepMs);
      if (release) batch.release();
    }
    const cpu = process.cpuUsage(cpuAtFirst);
    const mainBusy = performance.eventLoopUtilization(eluAtFirst).utilization;
    const m = pipeline.metrics();
    const timedSamples = m.samplesDelivered - samplesAtFirst;
    return {
      m,
      o: pipeline.options,
      describe: pipeline.describe(),
      seconds: (performance.now() - started) / 1000,
      firstBatchMs,
      cpuMsPerSample: timedSamples > 0 ? (cpu.user + cpu.system) / 1000 / timedSamples : 0,
      mainBusy,
    };
  } finally {
    await pipeline.close();
  }
}

export async function runBenchPipeline(flags: BenchPipelineFlags): Promise<void> {
  const out = (line: string): void => void process.stdout.write(line + '\n');
  let tokenizerFile = flags.tokenizer;
  let scratch: string | undefined;
  try {
    if (tokenizerFile === undefined) {
      scratch = await mkdtemp(join(tmpdir(), 'declip-bench-'));
      tokenizerFile = join(scratch, 'tokenizer.json');
      const t0 = performance.now();
      await trainTokenizer(flags.shards, int('vocab-size', flags.vocabSize) ?? 4096, tokenizerFile, flags.onShardError);
      if (flags.json !== true) out(`tokenizer trained in ${((performance.now() - t0) / 1000).toFixed(1)}s (not timed)`);
    }
    const opts = {
      shards: flags.shards,
      tokenizerFile,
      batchSize: int('batch', flags.batch),
      imageSize: int('size', flags.size),
      onError: flags.onError as ErrorPolicy,
      onShardError: flags.onShardError,
      shuffleBuffer: int('shuffle', flags.shuffle),
      seed: int('seed', flags.seed),
      workers: int('workers', flags.workers),
      samplesPerTask: int('samples-per-task', flags.samplesPerTask),
      tasksPerWorker: int('tasks-per-worker', flags.tasksPerWorker),
      prefetch: int('prefetch', flags.prefetch),
      loaderThread: flags.loaderThread === true ? true : undefined,
      fastJpeg: jpegDecoder(flags.jpegDecoder) === 'turbo',
      sharedBatches: flags.sharedBatches,
      workerExtra: flags.decodeOnly === true ? { decodeOnly: true } : undefined,
    };
    const stepMs = int('step-ms', flags.stepMs) ?? 0;
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as PipelineOptions;
    const main = await measure(defined, stepMs, flags.release !== false);
    // Taken now: the scaling run below must not count in the main run's peak.
    const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
    const { m, o } = main;
    if (flags.json !== true) out(main.describe);
    out(
      `declip-ts workers=${o.workers} size=${o.imageSize}: ${m.samplesDelivered} samples in ${main.seconds.toFixed(2)}s, ` +
        `${m.samplesPerSecond.toFixed(1)} samples/s after the first batch` +
        `${flags.decodeOnly === true ? ' (decode only)' : ''}, ${main.cpuMsPerSample.toFixed(1)} CPU ms/sample, main thread busy ${(100 * main.mainBusy).toFixed(0)}%, peak RSS ${peakRssMB} MB` +
        (Object.keys(m.skipped).length > 0 ? `, skipped ${JSON.stringify(m.skipped)}` : ''),
    );
    let scaling: { workers: [number, number]; samplesPerSecond: [number, number]; speedup: number } | undefined;
    if (flags.scaling === true) {
      const one = await measure({ ...defined, workers: 1 }, stepMs, flags.release !== false);
      const a = one.m.samplesPerSecond;
      const b = m.samplesPerSecond;
      scaling = { workers: [1, o.workers], samplesPerSecond: [Number(a.toFixed(2)), Number(b.toFixed(2))], speedup: Number((a > 0 ? b / a : 0).toFixed(3)) };
      out(`scaling: 1 worker ${a.toFixed(1)} samples/s -> ${o.workers} workers ${b.toFixed(1)} samples/s: ${scaling.speedup.toFixed(2)}x`);
    }
    if (flags.json === true) {
      out(
        JSON.stringify({
          samplesPerSecond: Number(m.samplesPerSecond.toFixed(2)),
          samples: m.samplesDelivered,
          skipped: m.skipped,
          batches: m.batchesDelivered,
          seconds: Number(main.seconds.toFixed(3)),
          firstBatchSeconds: Number((main.firstBatchMs / 1000).toFixed(3)),
          consumerWaitSeconds: Number((m.consumerWaitMs / 1000).toFixed(3)),
          workers: o.workers,
          batchSize: o.batchSize,
          imageSize: o.imageSize,
          samplesPerTask: o.samplesPerTask,
          tasksPerWorker: o.tasksPerWorker,
          peakRssMB,
          stepMs,
          decodeOnly: flags.decodeOnly === true,
          sharedBatches: o.sharedBatches,
          released: flags.release !== false,
          batchBuffers: o.sharedBatches ? o.batchBuffers : 0,
          // how the pool went: { pooled, free, reused, copied } (copied > 0: the copy path was taken)
          ...(m.batchBuffers === undefined ? {} : { batchBufferStats: m.batchBuffers }),
          jpegDecoder: jpegDecoder(flags.jpegDecoder),
          cpuMsPerSample: Number(main.cpuMsPerSample.toFixed(2)),
          mainThreadBusy: Number(main.mainBusy.toFixed(3)),
          pipeline: main.describe,
          ...(scaling === undefined ? {} : { scaling }),
        }),
      );
    }
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

/** Registers `pipeline` on the `bench` command. */
export function registerBenchPipeline(parent: Command): void {
  parent
    .command('pipeline')
    .description('measure the input pipeline (read, decode, two mocov2 views, EDA, MLM, batch): samples/s')
    .requiredOption('--shards <url>', 'shard URL pattern, e.g. photos-{000000..000003}.tar')
    .option('--workers <n>', 'augmentation worker threads (default: core count)')
    .option('--batch <n>', 'batch size', '64')
    .option('--size <n>', 'image side of both views', '224')
    .option('--on-error <policy>', 'bad samples: throw, warn or skip', 'throw')
    .addOption(onShardErrorOption())
    .option('--tokenizer <file>', 'saved tokenizer JSON (default: train one on the captions first, not timed)')
    .option('--vocab-size <n>', 'vocabulary size N when training the tokenizer', '4096')
    .option('--shuffle <n>', 'sample shuffle buffer (the anchor uses 256)', '256')
    .option('--samples-per-task <n>', 'samples per worker task')
    .option('--tasks-per-worker <n>', 'tasks held by one worker at a time')
    .option('--prefetch <n>', 'batches allowed ahead of the consumer')
    .option('--seed <n>', 'seed of shuffles and augmentations', '0')
    .option('--loader-thread', 'read and assemble batches in a dedicated loader thread')
    .option('--step-ms <n>', 'block the main thread this long after each batch (a simulated training step)')
    .option('--decode-only', 'decode the images only (no views, no text): the physical limit of the pipeline')
    .option('--shared-batches', 'workers write the views into shared, recycled batch buffers (zero-copy; the default)')
    .option('--no-shared-batches', 'copy every batch into its own arrays on the main thread instead')
    .option('--no-release', 'never hand batches back (a consumer that keeps them): the pool runs out, later batches get fresh buffers')
    .option('--scaling', 'then run again with 1 worker and report the 1 -> N worker speed-up ("scaling" in --json)')
    .option('--jpeg-decoder <name>', 'turbo (libjpeg-turbo for plain JPEGs, sharp for the rest) or sharp', 'turbo')
    .option('--json', 'last stdout line: {"samplesPerSecond", "samples", "skipped", ...}')
    .action(async (flags: BenchPipelineFlags) => {
      await runBenchPipeline(flags);
    });
}
