/**
 * Gradient accumulation over K micro-batches: sums gradients as they come and hands back
 * their mean once K have been added.
 *
 * Note for contrastive losses: accumulating K micro-batches of B is not the same as one
 * batch of K*B (the negatives of each InfoNCE term stay within a micro-batch); it is the
 * same *optimizer* step size and noise as far as the non-contrastive terms go.
 *
 * Ownership: `add` does not take the caller's tensors (it keeps its own sums); `mean`
 * returns new tensors the caller owns; `reset`/`dispose` free the sums.
 *
 * @example
 * ```ts
 * const acc = new GradientAccumulator(4);
 * acc.add(grads); tf.dispose(Object.values(grads));
 * if (acc.ready) { const g = acc.mean(); acc.reset(); ... }
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { expectInteger } from '../../core/validate.js';
import type { NamedGrads } from './param.js';

export class GradientAccumulator {
  readonly steps: number;
  #sums = new Map<string, tf.Tensor>();
  #count = 0;

  constructor(steps: number) {
    this.steps = expectInteger('accumulate', steps, 1);
  }

  /** Micro-batches added since the last reset. */
  get count(): number {
    return this.#count;
  }

  /** True when `steps` micro-batches have been added. */
  get ready(): boolean {
    return this.#count >= this.steps;
  }

  /** Add one micro-batch's gradients (copied; the caller still owns `grads`). */
  add(grads: NamedGrads): void {
    for (const [name, g] of Object.entries(grads)) {
      const old = this.#sums.get(name);
      this.#sums.set(name, old === undefined ? tf.clone(g) : tf.add(old, g));
      old?.dispose();
    }
    this.#count++;
  }

  /** The mean of the gradients added so far (new tensors, owned by the caller). */
  mean(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    const n = Math.max(1, this.#count);
    for (const [name, sum] of this.#sums) out[name] = n === 1 ? tf.clone(sum) : tf.tidy(() => tf.div(sum, n));
    return out;
  }

  /** Drop the sums (start the next accumulation). */
  reset(): void {
    for (const t of this.#sums.values()) t.dispose();
    this.#sums.clear();
    this.#count = 0;
  }

  /** Same as `reset`; idempotent. */
  dispose(): void {
    this.reset();
  }
}
