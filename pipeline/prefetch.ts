/**
 * prefetch: the pull-based edge between an Observable of batches and a consumer that
 * asks for one batch at a time (`for await`). Finished batches wait in a ring; the
 * consumer taking one is what gives credit back upstream, so a slow consumer slows the
 * reader instead of growing the ring.
 *
 * @example
 * ```ts
 * const edge = pullEdge(batches$, { onTake: (b) => credit.release(b.size), onWait: (ms) => waited += ms });
 * for await (const batch of edge) train(batch);
 * ```
 */
import type { Observable, Subscription } from 'rxjs';

export interface PullEdgeOptions<T> {
  /** Called when the consumer takes a value (before it sees it). */
  readonly onTake: (value: T) => void;
  /** Called when a value enters the ring, with the ring's new depth. */
  readonly onDepth: (depth: number) => void;
  /** Called with the milliseconds the consumer waited on an empty ring. */
  readonly onWait: (ms: number) => void;
  /**
   * Give the event loop one turn (setImmediate) before each value is returned, so that
   * I/O and worker replies are handled even when a consumer keeps the main thread busy
   * between pulls (a training step). Default true.
   */
  readonly yieldOnPull?: boolean;
}

/** An AsyncIterableIterator with an idempotent {@link PullEdge.close}. */
export interface PullEdge<T> extends AsyncIterableIterator<T> {
  /** Values waiting in the ring. */
  readonly depth: number;
  /** Stop: unsubscribe upstream; a pending `next()` resolves done (or rejects with `reason`). */
  close(reason?: unknown): void;
}

interface Waiter<T> {
  resolve: (r: IteratorResult<T>) => void;
  reject: (err: unknown) => void;
  since: number;
}

export function pullEdge<T>(source$: Observable<T>, options: PullEdgeOptions<T>): PullEdge<T> {
  const { onTake, onDepth, onWait } = options;
  const yieldOnPull = options.yieldOnPull ?? true;
  const ring: T[] = [];
  let subscription: Subscription | undefined;
  let waiter: Waiter<T> | undefined;
  let finished = false;
  let failure: { error: unknown } | undefined;

  const settle = (): void => {
    const w = waiter;
    if (w === undefined) return;
    if (ring.length > 0) {
      waiter = undefined;
      onWait(performance.now() - w.since);
      const value = ring.shift() as T;
      onDepth(ring.length);
      onTake(value);
      w.resolve({ value, done: false });
    } else if (failure !== undefined) {
      waiter = undefined;
      w.reject(failure.error);
    } else if (finished) {
      waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  };

  const start = (): void => {
    if (subscription !== undefined || finished) return;
    subscription = source$.subscribe({
      next: (value) => {
        ring.push(value);
        onDepth(ring.length);
        settle();
      },
      error: (error: unknown) => {
        failure = { error };
        finished = true;
        settle();
      },
      complete: () => {
        finished = true;
        settle();
      },
    });
  };

  const edge: PullEdge<T> = {
    get depth() {
      return ring.length;
    },
    async next(): Promise<IteratorResult<T>> {
      if (waiter !== undefined) throw new Error('pullEdge: next() called before the previous call resolved');
      start();
      if (yieldOnPull) await new Promise<void>((resolve) => setImmediate(resolve));
      if (ring.length > 0) {
        const value = ring.shift() as T;
        onDepth(ring.length);
        onTake(value);
        return { value, done: false };
      }
      if (failure !== undefined) throw failure.error;
      if (finished) return { value: undefined, done: true };
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiter = { resolve, reject, since: performance.now() };
      });
    },
    async return(): Promise<IteratorResult<T>> {
      edge.close();
      return { value: undefined, done: true };
    },
    close(reason?: unknown): void {
      if (reason !== undefined && failure === undefined && !finished) failure = { error: reason };
      finished = true;
      ring.length = 0;
      onDepth(0);
      subscription?.unsubscribe();
      settle();
    },
    [Symbol.asyncIterator]() {
      return edge;
    },
  };
  return edge;
}
