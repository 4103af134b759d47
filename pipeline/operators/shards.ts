/**
 * shards -> samples for one epoch: the shard reader (datasets/reader) with the
 * pipeline's seed, epoch, shard shuffle and sample shuffle buffer (the one place samples
 * are shuffled), and its error policy. Reader-level skips (corrupt tar, truncated shard,
 * ...) are reported through `onSkip` so the pipeline counts them with its own; shards that
 * cannot be opened follow `onShardError` (scope 'shard'), errors inside them `onError`.
 *
 * @example
 * ```ts
 * for await (const sample of openShards(options, 0, signal, (reason) => counts[reason]++)) { ... }
 * ```
 */
import { readSamples } from '../../datasets/reader/index.js';
import type { Sample } from '../../datasets/sample.js';
import type { ResolvedPipelineOptions } from '../options.js';

export async function* openShards(
  o: ResolvedPipelineOptions,
  epoch: number,
  signal: AbortSignal,
  onSkip: (reason: string, error: Error, scope: 'shard' | 'data') => void,
): AsyncGenerator<Sample, void, undefined> {
  if (o.shards === undefined) return;
  const reader = readSamples({
    urls: o.shards,
    seed: o.seed,
    epoch,
    epochs: 1,
    shuffleShards: o.shuffleShards,
    bufferSize: o.shuffleBuffer,
    onError: o.onError,
    onShardError: o.onShardError,
    stallTimeoutMs: o.stallTimeoutMs,
    // the pipeline reports warnings itself (counted with the sample-level ones)
    warn: () => {},
    onSkip: (event) => {
      if (event.action === 'skipped') onSkip(event.reason, event.error, event.scope);
    },
    signal,
  });
  try {
    yield* reader;
  } finally {
    await reader.close();
  }
}
