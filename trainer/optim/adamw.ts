/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, as `torch.optim.AdamW`:
 *
 * ```
 * p <- p * (1 - lr * wd)              (only when param.decay)
 * m <- b1 * m + (1 - b1) * g
 * v <- b2 * v + (1 - b2) * g^2
 * p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * ```
 *
 * Defaults are DeCLIP's: betas (0.9, 0.98), eps 1e-8, weight decay 0.1. Parameters with
 * `decay: false` (biases, norm weights, logit scale) are never decayed. On the wasm
 * backend each parameter is updated in place by one fused kernel (trainer/kernels/adamw.ts,
 * the same float32 operations), on webgpu by three WGSL dispatches
 * (trainer/kernels/webgpu/adamw.ts, masked too); elsewhere by tfjs ops. The moments live
 * in non-trainable variables created lazily; {@link AdamW.exportState} /
 * {@link AdamW.importState} move them to and from plain typed arrays for checkpoints.
 *
 * @example
 * ```ts
 * const opt = new AdamW(params, { weightDecay: 0.1 });
 * const { grads } = tf.variableGrads(lossFn, params.map((p) => p.variable));
 * opt.step(grads, schedule(opt.stepCount + 1));
 * tf.dispose(Object.values(grads));
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../../core/errors.js';
import { expectBoolean, expectNumber } from '../../core/validate.js';
import { adamwInPlace } from '../kernels/adamw.js';
import { adamwWebGpu } from '../kernels/webgpu/adamw.js';
import type { NamedGrads, OptimParam } from './param.js';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Also decay parameters marked `embedding` (official DeCLIP does; CLIP's convention does not). */
  readonly decayEmbeddings?: boolean;
}

export interface ResolvedAdamWOptions {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decayEmbeddings: boolean;
}

export const ADAMW_DEFAULTS: ResolvedAdamWOptions = Object.freeze({ beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0.1, decayEmbeddings: false });

/** Optimizer state as plain data: the update count and both moments of every parameter. */
export interface AdamWState {
  /** Number of updates applied so far (t of the bias correction). */
  readonly step: number;
  readonly moments: Readonly<Record<string, { readonly shape: readonly number[]; readonly m: Float32Array; readonly v: Float32Array }>>;
}

export class AdamW {
  readonly options: ResolvedAdamWOptions;
  readonly params: readonly OptimParam[];
  #step = 0;
  #m = new Map<string, tf.Variable>();
  #v = new Map<string, tf.Variable>();
  #disposed = false;

  constructor(params: readonly OptimParam[], options: AdamWOptions = {}) {
    this.options = Object.freeze({
      beta1: expectNumber('beta1', options.beta1 ?? ADAMW_DEFAULTS.beta1, 0, 0.999999),
      beta2: expectNumber('beta2', options.beta2 ?? ADAMW_DEFAULTS.beta2, 0, 0.999999),
      eps: expectNumber('eps', options.eps ?? ADAMW_DEFAULTS.eps, 0),
      weightDecay: expectNumber('weightDecay', options.weightDecay ?? ADAMW_DEFAULTS.weightDecay, 0),
      decayEmbeddings: expectBoolean('decayEmbeddings', options.decayEmbeddings ?? ADAMW_DEFAULTS.decayEmbeddings),
    });
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.name)) throw new RangeError(`AdamW: duplicate parameter name ${p.name}`);
      seen.add(p.name);
    }
    this.params = params;
  }

  /** Updates applied so far. */
  get stepCount(): number {
    return this.#step;
  }

  #moment(map: Map<string, tf.Variable>, p: OptimParam): tf.Variable {
    let v = map.get(p.name);
    if (v === undefined) {
      v = tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
      map.set(p.name, v);
    }
    return v;
  }

  /**
   * Apply one update with learning rate `lr`. Parameters without a gradient in `grads`
   * are left alone (their moments do not move). The caller keeps ownership of `grads`.
   *
   * `apply` (a bool scalar on the device) masks the update: where it is false every
   * parameter and moment keeps its value (`where(apply, new, old)`), so a step whose
   * gradients are not finite can be skipped without reading anything back first. The
   * update count still advances (the training loop reloads its last checkpoint after such a
   * step). With a mask the tfjs ops run, not the fused wasm kernel.
   *
   * `gradScale` (a scalar on the device, the gradient-clipping factor) multiplies every
   * gradient first, as `scaleGrads` would; the webgpu kernel does it in the same pass.
   */
  step(grads: NamedGrads, lr: number, apply?: tf.Scalar, gradScale?: tf.Scalar): void {
    if (this.#disposed) throw new Error('AdamW: used after dispose()');
    this.#step++;
    const { beta1, beta2, eps, weightDecay, decayEmbeddings } = this.options;
    const bc1 = 1 - beta1 ** this.#step;
    const bc2 = 1 - beta2 ** this.#step;
    for (const p of this.params) {
      const grad = grads[p.name];
      if (grad === undefined) continue;
      const m = this.#moment(this.#m, p);
      const v = this.#moment(this.#v, p);
      const decays = p.decay || (decayEmbeddings && p.embedding === true);
      const decay = decays && weightDecay > 0 ? 1 - lr * weightDecay : 1;
      const scalars = { beta1, beta2, eps, bc2, stepSize: lr / bc1, decay };
      if (apply === undefined && gradScale === undefined && adamwInPlace(p.variable, grad, m, v, scalars)) continue;
      if (adamwWebGpu(p.variable, grad, m, v, scalars, apply, gradScale)) continue;
      tf.tidy(() => {
        const g = gradScale === undefined ? grad : tf.mul(grad, gradScale);
        const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const denom = tf.add(tf.sqrt(tf.div(vNew, bc2)), eps);
        const update = tf.mul(tf.div(mNew, denom), lr / bc1);
        const decayed = decay === 1 ? p.variable : tf.mul(p.variable, decay);
        const pNew = tf.sub(decayed, update);
        const masked = (next: tf.Tensor, old: tf.Tensor): tf.Tensor => (apply === undefined ? next : tf.where(apply, next, old));
        p.variable.assign(masked(pNew, p.variable));
        m.assign(masked(mNew, m));
        v.assign(masked(vNew, v));
      });
    }
  }

  /** The state as plain arrays (copies, read asynchronously: works on every backend). */
  async exportState(): Promise<AdamWState> {
    const step = this.#step;
    const names: string[] = [];
    const reads: Promise<tf.backend_util.TypedArray>[] = [];
    for (const p of this.params) {
      const m = this.#m.get(p.name);
      const v = this.#v.get(p.name);
      if (m === undefined || v === undefined) continue;
      names.push(p.name);
      reads.push(m.data(), v.data());
    }
    const values = await Promise.all(reads);
    const moments: Record<string, { shape: number[]; m: Float32Array; v: Float32Array }> = {};
    names.forEach((name, i) => {
      const p = this.params.find((q) => q.name === name) as OptimParam;
      moments[name] = { shape: [...p.variable.shape], m: Float32Array.from(values[2 * i] as Float32Array), v: Float32Array.from(values[2 * i + 1] as Float32Array) };
    });
    return { step, moments };
  }

  /** Replace the state with `state` (shapes are checked against the parameters). */
  importState(state: AdamWState, source = 'optimizer state'): void {
    const byName = new Map(this.params.map((p) => [p.name, p] as const));
    for (const [name, mom] of Object.entries(state.moments)) {
      const p = byName.get(name);
      if (p === undefined) throw new CheckpointError(source, `optimizer moment for unknown parameter ${name}`);
      const size = p.variable.size;
      if (mom.m.length !== size || mom.v.length !== size) {
        throw new CheckpointError(source, `optimizer moment ${name} has ${mom.m.length} values, parameter has ${size}`);
      }
    }
    this.#clear();
    this.#step = state.step;
    for (const [name, mom] of Object.entries(state.moments)) {
      const p = byName.get(name);
      if (p === undefined) continue;
      this.#m.set(name, tf.tidy(() => tf.variable(tf.tensor(mom.m, p.variable.shape, 'float32'), false)));
      this.#v.set(name, tf.tidy(() => tf.variable(tf.tensor(mom.v, p.variable.shape, 'float32'), false)));
    }
  }

  #clear(): void {
    for (const t of this.#m.values()) t.dispose();
    for (const t of this.#v.values()) t.dispose();
    this.#m.clear();
    this.#v.clear();
  }

  /** Free the moments; idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#clear();
  }
}

/**
 * Clamp a scalar variable (the logit scale) to `[lo, hi]` in place, after an update.
 * DeCLIP's official code clamps the parameter to [3, 6] (declip.md); CLIP/open_clip clamp
 * it to [0, ln 100]. The range is a config field (`optimizer.logitScaleRange`). `apply` masks
 * it as in {@link AdamW.step}.
 */
export function clampVariable(variable: tf.Variable, lo: number, hi: number, apply?: tf.Scalar): void {
  tf.tidy(() => {
    const clamped = tf.clipByValue(variable, lo, hi);
    variable.assign(apply === undefined ? clamped : tf.where(apply, clamped, variable));
  });
}
