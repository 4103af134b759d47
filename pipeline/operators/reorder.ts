/**
 * Re-order results to source order. Values carry a sequence number 0, 1, 2, ...; a
 * value is held until every earlier one has passed. The number held is bounded by the
 * number of values in flight upstream (the caller bounds that).
 *
 * @example
 * ```ts
 * results$.pipe(inSourceOrder((r) => r.seq))
 * ```
 */
import { concatMap, defer, type MonoTypeOperatorFunction } from 'rxjs';

/** The re-order operator (see the module example); `onDepth` receives the number held. */
export function inSourceOrder<T>(seqOf: (value: T) => number, onDepth?: (held: number) => void): MonoTypeOperatorFunction<T> {
  return (source) =>
    defer(() => {
      const held = new Map<number, T>();
      let next = 0;
      return source.pipe(
        concatMap((value) => {
          held.set(seqOf(value), value);
          const ready: T[] = [];
          for (let v = held.get(next); v !== undefined; v = held.get(next)) {
            held.delete(next);
            ready.push(v);
            next++;
          }
          onDepth?.(held.size);
          return ready;
        }),
      );
    });
}
