/**
 * Credit-based flow control: the one place that decides when the pipeline may read.
 *
 * The source takes credit (one unit per sample) before it reads; a unit comes back when
 * its sample leaves the pipeline (handed to the consumer in a batch, or dropped under the
 * error policy). So the number of samples between the reader and the consumer never
 * exceeds `capacity`, however slow the consumer is.
 *
 * @example
 * ```ts
 * const credit = new Credit(256);
 * credit.take(4);           // before reading 4 samples
 * credit.release(64);       // a batch of 64 was consumed: wakes the source
 * ```
 */
import { Subject, type Observable } from 'rxjs';

export class Credit {
  readonly capacity: number;
  #available: number;
  readonly #wake = new Subject<void>();

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#available = capacity;
  }

  get available(): number {
    return this.#available;
  }

  /** Emits whenever credit comes back. Completes on {@link close}. */
  get wake$(): Observable<void> {
    return this.#wake.asObservable();
  }

  take(n: number): void {
    if (n > this.#available) throw new RangeError(`Credit.take(${n}) with only ${this.#available} available`);
    this.#available -= n;
  }

  release(n: number): void {
    if (n <= 0) return;
    this.#available = Math.min(this.capacity, this.#available + n);
    this.#wake.next();
  }

  close(): void {
    this.#wake.complete();
  }
}
