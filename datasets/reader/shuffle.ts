/**
 * The sample shuffle buffer, webdataset's algorithm: fill up to `bufferSize` (taking two
 * samples per step while below it), start emitting once `initial` samples are buffered,
 * emit a uniformly chosen sample and put the last one in its place; drain at the end.
 */
import type { Rng } from '../../core/rng.js';

/**
 * Shuffle an async stream through a bounded buffer.
 *
 * @example
 * ```ts
 * for await (const s of shuffleBuffer(samples, 1000, 100, new Rng(deriveSeed(seed, epoch)))) use(s);
 * ```
 */
export async function* shuffleBuffer<T>(
  source: AsyncIterable<T>,
  bufferSize: number,
  initial: number,
  rng: Rng,
): AsyncGenerator<T> {
  if (bufferSize <= 1) {
    yield* source;
    return;
  }
  const start = Math.min(initial, bufferSize);
  const buf: T[] = [];
  const it = source[Symbol.asyncIterator]();
  const pick = (): T => {
    const k = rng.int(buf.length);
    const item = buf[k] as T;
    buf[k] = buf[buf.length - 1] as T;
    buf.pop();
    return item;
  };
  try {
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      buf.push(r.value);
      if (buf.length < bufferSize) {
        const r2 = await it.next();
        if (r2.done === true) break;
        buf.push(r2.value);
      }
      if (buf.length >= start) yield pick();
    }
    while (buf.length > 0) yield pick();
  } finally {
    buf.length = 0;
    await it.return?.();
  }
}
