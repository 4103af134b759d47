/**
 * `declip demo` (what `npm start` runs): make the built-in synthetic dataset - a train
 * set and a held-out set - as shards in `./out/demo`, then print their statistics from
 * the sidecar indexes and from reading every shard back.
 *
 * The demo is a list of small steps ({@link demoSteps}) over one shared state, so a
 * later change can append steps (train, evaluate) without touching these.
 *
 * The held-out set is samples `train .. train+heldout-1` of the same seed: the two sets
 * never share a sample or a key. Shards already there with the same parameters are
 * reused (use `--force` to rebuild).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { convertToShards, syntheticSource } from '../datasets/convert/index.js';
import { readSamples } from '../datasets/reader/index.js';
import { readShardIndex, type ShardIndex } from '../datasets/shard-index.js';
import { parseIntegerOption } from './shards-create.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Output folder. Default `out/demo`. */
  readonly out?: string;
  /** Train samples. Default 2000. */
  readonly train?: number;
  /** Held-out samples. Default 500. */
  readonly heldout?: number;
  /** Dataset seed. Default 0. */
  readonly seed?: number;
  /** Samples per shard. Default 500. */
  readonly maxCount?: number;
  /** Image side. Default 64. */
  readonly imageSize?: number;
  /** Rebuild even when matching shards exist. */
  readonly force?: boolean;
}

/** The defaults of {@link DemoOptions}. */
export const demoDefaults = Object.freeze({
  out: join('out', 'demo'),
  train: 2000,
  heldout: 500,
  seed: 0,
  maxCount: 500,
  imageSize: 64,
  force: false,
});

type ResolvedDemoOptions = { readonly [K in keyof typeof demoDefaults]: (typeof demoDefaults)[K] extends boolean ? boolean : (typeof demoDefaults)[K] extends number ? number : string };

/** One data set of the demo. */
export interface DemoSet {
  readonly name: 'train' | 'heldout';
  readonly pattern: string;
  readonly start: number;
  readonly count: number;
  index?: ShardIndex;
  shardUrls?: readonly string[];
  reused?: boolean;
  readBack?: ReadBackStats;
}

/** What reading a set back found. */
export interface ReadBackStats {
  readonly samples: number;
  readonly bytes: number;
  readonly extensions: Readonly<Record<string, number>>;
  readonly classCounts: readonly number[];
  readonly errors: number;
  readonly seconds: number;
}

/** The state the demo steps share. */
export interface DemoState {
  readonly options: ResolvedDemoOptions;
  readonly sets: DemoSet[];
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/** A demo step. */
export interface DemoStep {
  readonly name: string;
  run(state: DemoState): Promise<void>;
}

async function reusable(set: DemoSet, o: ResolvedDemoOptions): Promise<ShardIndex | undefined> {
  const found = await readShardIndex(set.pattern).catch(() => undefined);
  if (found === undefined) return undefined;
  const m = found.index.meta;
  if (m['source'] !== 'synthetic' || m['seed'] !== o.seed || m['start'] !== set.start || m['count'] !== set.count) return undefined;
  if (m['imageSize'] !== o.imageSize) return undefined;
  if (found.index.shards.some((s) => s.samples > o.maxCount)) return undefined;
  for (const [i, url] of found.shardUrls.entries()) {
    const size = await stat(url).then((s) => s.size, () => -1);
    if (size !== found.index.shards[i]?.bytes) return undefined;
  }
  return found.index;
}

/** Step 1: create (or reuse) the synthetic shards. */
export const createDataStep: DemoStep = {
  name: 'create synthetic shards',
  async run(state) {
    const o = state.options;
    for (const set of state.sets) {
      const existing = o.force ? undefined : await reusable(set, o);
      if (existing !== undefined) {
        set.index = existing;
        set.reused = true;
        continue;
      }
      const started = performance.now();
      const { index } = await convertToShards(
        syntheticSource({ count: set.count, start: set.start, seed: o.seed, imageSize: o.imageSize }),
        { pattern: set.pattern, maxCount: o.maxCount, meta: { split: set.name } },
      );
      set.index = index;
      set.reused = false;
      const seconds = (performance.now() - started) / 1000;
      state.stderr.write(
        `declip demo: wrote ${set.name} (${index.totals.samples} samples, ${index.totals.shards} shard${index.totals.shards === 1 ? '' : 's'}) in ${seconds.toFixed(1)} s (${Math.round(index.totals.samples / Math.max(seconds, 1e-9))} samples/s)\n`,
      );
    }
  },
};

/** Step 2: read every shard back and count what is there. */
export const readBackStep: DemoStep = {
  name: 'read the shards back',
  async run(state) {
    for (const set of state.sets) {
      const found = await readShardIndex(set.pattern);
      if (found === undefined) continue;
      set.shardUrls = found.shardUrls;
      const classes = found.index.classes ?? [];
      const classCounts = classes.map(() => 0);
      const extensions: Record<string, number> = {};
      let samples = 0;
      let bytes = 0;
      const started = performance.now();
      const reader = readSamples({ urls: found.shardUrls, onError: 'warn' });
      try {
        for await (const sample of reader) {
          samples++;
          for (const [ext, data] of Object.entries(sample.files)) {
            extensions[ext] = (extensions[ext] ?? 0) + 1;
            bytes += data.byteLength;
          }
          const cls = sample.files['cls'];
          if (cls !== undefined) {
            const id = Number(cls.toString());
            if (Number.isInteger(id) && id >= 0 && id < classCounts.length) classCounts[id] = (classCounts[id] ?? 0) + 1;
          }
        }
      } finally {
        await reader.close();
      }
      const errors = reader.stats.errors.reduce((n, e) => n + e.count, 0);
      set.readBack = { samples, bytes, extensions, classCounts, errors, seconds: (performance.now() - started) / 1000 };
    }
  },
};

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** Step 3: print the statistics. */
export const printStatsStep: DemoStep = {
  name: 'print statistics',
  async run(state) {
    const o = state.options;
    const out: string[] = [];
    out.push(`declip demo: built-in synthetic shapes (seed ${o.seed}, ${o.imageSize}x${o.imageSize} PNG) in ${o.out}`);
    for (const set of state.sets) {
      const index = set.index;
      if (index === undefined) continue;
      const t = index.totals;
      out.push('');
      out.push(`${set.name}: ${set.pattern}${set.reused === true ? ' (reused)' : ''}`);
      out.push(`  index:      ${t.samples} samples in ${t.shards} shard${t.shards === 1 ? '' : 's'}, ${formatBytes(t.bytes)} on disk`);
      out.push(`  extensions: ${Object.entries(index.extensions).map(([e, n]) => `${e} ${n}`).join(', ')}`);
      const rb = set.readBack;
      if (rb !== undefined) {
        const match = rb.samples === t.samples ? 'matches the index' : `INDEX SAYS ${t.samples}`;
        out.push(
          `  read back:  ${rb.samples} samples (${match}), ${formatBytes(rb.bytes)} of member data, ` +
            `${rb.errors} errors, ${(rb.samples / Math.max(rb.seconds, 1e-9)).toFixed(0)} samples/s`,
        );
        const classes = index.classes ?? [];
        out.push(`  classes:    ${classes.map((c, i) => `${c} ${rb.classCounts[i] ?? 0}`).join(', ')}`);
      } else if (index.classes !== undefined) {
        out.push(`  classes:    ${index.classes.join(', ')}`);
      }
    }
    out.push('');
    state.stdout.write(out.join('\n') + '\n');
    return Promise.resolve();
  },
};

/** The demo's steps, in order. Later changes append training and evaluation. */
export const demoSteps: readonly DemoStep[] = [createDataStep, readBackStep, printStatsStep];

/** Validate {@link DemoOptions}. */
export function resolveDemoOptions(options: DemoOptions = {}): ResolvedDemoOptions {
  return {
    out: options.out ?? demoDefaults.out,
    train: options.train ?? demoDefaults.train,
    heldout: options.heldout ?? demoDefaults.heldout,
    seed: options.seed ?? demoDefaults.seed,
    maxCount: options.maxCount ?? demoDefaults.maxCount,
    imageSize: options.imageSize ?? demoDefaults.imageSize,
    force: options.force ?? demoDefaults.force,
  };
}

/** The demo's initial state: the train and held-out sets under `out`. */
export function demoState(options: DemoOptions, io: { stdout: Writable; stderr: Writable }): DemoState {
  const o = resolveDemoOptions(options);
  return {
    options: o,
    sets: [
      { name: 'train', pattern: join(o.out, 'train-%06d.tar'), start: 0, count: o.train },
      { name: 'heldout', pattern: join(o.out, 'heldout-%06d.tar'), start: o.train, count: o.heldout },
    ],
    stdout: io.stdout,
    stderr: io.stderr,
  };
}

/**
 * Run the demo. Resolves to the exit code (non-zero when reading back found errors).
 *
 * @example
 * ```ts
 * await runDemo({ out: 'tmp/demo', train: 200, heldout: 50 });
 * ```
 */
export async function runDemo(
  options: DemoOptions = {},
  io: { stdout: Writable; stderr: Writable } = { stdout: process.stdout, stderr: process.stderr },
  steps: readonly DemoStep[] = demoSteps,
): Promise<number> {
  const state = demoState(options, io);
  for (const step of steps) await step.run(state);
  return state.sets.some((s) => (s.readBack?.errors ?? 0) > 0 || (s.readBack !== undefined && s.readBack.samples !== s.index?.totals.samples)) ? 1 : 0;
}

/** Register `declip demo`. */
export function registerDemo(parent: Command): void {
  parent
    .command('demo')
    .description('create the built-in synthetic dataset (train + held-out shards) and print its statistics (npm start)')
    .option('--out <dir>', 'output folder', demoDefaults.out)
    .option('--train <n>', 'train samples', String(demoDefaults.train))
    .option('--heldout <n>', 'held-out samples', String(demoDefaults.heldout))
    .option('--seed <s>', 'dataset seed', String(demoDefaults.seed))
    .option('--max-count <n>', 'samples per shard', String(demoDefaults.maxCount))
    .option('--image-size <n>', 'image side in pixels', String(demoDefaults.imageSize))
    .option('--force', 'rebuild the shards even if matching ones exist')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const num = (flag: string, key: string, min: number): number => parseIntegerOption(flag, String(opts[key]), min);
      const code = await runDemo({
        out: String(opts['out']),
        train: num('--train', 'train', 1),
        heldout: num('--heldout', 'heldout', 1),
        seed: num('--seed', 'seed', 0),
        maxCount: num('--max-count', 'maxCount', 1),
        imageSize: num('--image-size', 'imageSize', 16),
        force: opts['force'] === true,
      });
      if (code !== 0) process.exitCode = code;
    });
}
