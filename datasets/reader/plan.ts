/**
 * Which shards a reader reads, in which order: the deterministic part of the stream.
 *
 * - Epoch `e`, pass `p` (passes beyond 0 only happen when `samplesPerEpoch` asks for more
 *   samples than one pass gives): the full URL list, shuffled with
 *   `Rng(deriveSeed(seed, 'shards', e, p))` when `shuffleShards` (the same permutation on
 *   every rank and worker), then split by node (`i % worldSize === rank`), then split
 *   among the node's readers (`j % numWorkers === workerId`, `j` indexing the node's share).
 * - `resampled`: an endless draw with replacement from the full list, with
 *   `Rng(deriveSeed(seed, 'resample', e, rank, workerId))`; no split (each reader draws its own).
 */
import { Rng, deriveSeed } from '../../core/rng.js';

/** The parts of the resolved options the shard plan depends on. */
export interface PlanOptions {
  readonly urls: readonly string[];
  readonly rank: number;
  readonly worldSize: number;
  readonly workerId: number;
  readonly numWorkers: number;
  readonly seed: number;
  readonly shuffleShards: boolean;
}

/**
 * The shards this reader reads in one pass of one epoch (non-resampled).
 *
 * @example
 * ```ts
 * shardsForPass({ urls, rank: 1, worldSize: 2, workerId: 0, numWorkers: 2, seed: 0, shuffleShards: true }, 3, 0);
 * ```
 */
export function shardsForPass(o: PlanOptions, epoch: number, pass: number): string[] {
  let order = [...o.urls];
  if (o.shuffleShards) order = new Rng(deriveSeed(o.seed, 'shards', epoch, pass)).shuffle(order);
  const node = order.filter((_, i) => i % o.worldSize === o.rank);
  return node.filter((_, j) => j % o.numWorkers === o.workerId);
}

/**
 * Endless shard draws with replacement (resampled mode) for one epoch.
 *
 * @example
 * ```ts
 * const it = resampledShards(o, epoch); it.next().value; // a URL
 * ```
 */
export function* resampledShards(o: PlanOptions, epoch: number): Generator<string, never> {
  const rng = new Rng(deriveSeed(o.seed, 'resample', epoch, o.rank, o.workerId));
  for (;;) yield o.urls[rng.int(o.urls.length)] as string;
}

/** Seed of the sample shuffle buffer of one epoch of one reader. */
export function sampleShuffleSeed(o: PlanOptions, epoch: number): number {
  return deriveSeed(o.seed, 'samples', epoch, o.rank, o.workerId);
}
