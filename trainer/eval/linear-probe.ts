/**
 * Linear probe: multinomial logistic regression on frozen image features, the third
 * number (after zero-shot and retrieval) CLIP-style papers report.
 *
 * Features are standardised with the training set's mean and std; the objective is mean
 * cross-entropy + (l2 / 2) * ||W||^2 (bias not penalised), minimised by L-BFGS (memory 10,
 * Armijo backtracking) for a fixed number of iterations from zero weights. The procedure
 * has no randomness, so it needs no seed: the same features give the same probe.
 *
 * @example
 * ```ts
 * const { top1 } = linearProbe({ x: trainFeat, y: trainLabels }, { x: testFeat, y: testLabels }, d);
 * ```
 */
import { expectInteger, expectNumber } from '../../core/validate.js';

export interface LabelledFeatures {
  /** [n, d] row-major. */
  readonly x: Float32Array;
  /** [n] class ids; rows with a negative id are ignored. */
  readonly y: Int32Array | readonly number[];
}

export interface LinearProbeOptions {
  /** L2 penalty on the weights. Default 1e-3. */
  readonly l2?: number;
  /** L-BFGS iterations. Default 100. */
  readonly iterations?: number;
  /** Number of classes (default: 1 + the largest label seen). */
  readonly numClasses?: number;
}

export interface LinearProbeResult {
  /** Test accuracy (fraction). */
  readonly top1: number;
  /** Training accuracy, for reference. */
  readonly trainTop1: number;
  /** Test rows evaluated. */
  readonly n: number;
  /** Final training objective. */
  readonly loss: number;
}

interface Standardised {
  readonly x: Float64Array;
  readonly y: Int32Array;
  readonly n: number;
}

function select(data: LabelledFeatures, d: number, mean: Float64Array, std: Float64Array): Standardised {
  const rows: number[] = [];
  for (let i = 0; i < data.x.length / d; i++) if ((data.y[i] ?? -1) >= 0) rows.push(i);
  const x = new Float64Array(rows.length * d);
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    y[i] = data.y[r] ?? 0;
    for (let j = 0; j < d; j++) x[i * d + j] = ((data.x[r * d + j] ?? 0) - (mean[j] ?? 0)) / (std[j] ?? 1);
  });
  return { x, y, n: rows.length };
}

/** logits = x W + b for W [d, C] stored with the bias as row d. */
function logitsOf(w: Float64Array, x: Float64Array, i: number, d: number, c: number, out: Float64Array): void {
  for (let k = 0; k < c; k++) out[k] = w[d * c + k] ?? 0;
  for (let j = 0; j < d; j++) {
    const v = x[i * d + j] ?? 0;
    if (v === 0) continue;
    for (let k = 0; k < c; k++) out[k] = (out[k] ?? 0) + v * (w[j * c + k] ?? 0);
  }
}

function objective(w: Float64Array, data: Standardised, d: number, c: number, l2: number, grad: Float64Array): number {
  grad.fill(0);
  const logits = new Float64Array(c);
  let loss = 0;
  for (let i = 0; i < data.n; i++) {
    logitsOf(w, data.x, i, d, c, logits);
    let max = -Infinity;
    for (let k = 0; k < c; k++) max = Math.max(max, logits[k] ?? 0);
    let z = 0;
    for (let k = 0; k < c; k++) z += Math.exp((logits[k] ?? 0) - max);
    const y = data.y[i] ?? 0;
    loss += Math.log(z) + max - (logits[y] ?? 0);
    for (let k = 0; k < c; k++) {
      const delta = (Math.exp((logits[k] ?? 0) - max) / z - (k === y ? 1 : 0)) / data.n;
      if (delta === 0) continue;
      for (let j = 0; j < d; j++) grad[j * c + k] = (grad[j * c + k] ?? 0) + delta * (data.x[i * d + j] ?? 0);
      grad[d * c + k] = (grad[d * c + k] ?? 0) + delta;
    }
  }
  loss /= Math.max(1, data.n);
  for (let p = 0; p < d * c; p++) {
    loss += 0.5 * l2 * (w[p] ?? 0) ** 2;
    grad[p] = (grad[p] ?? 0) + l2 * (w[p] ?? 0);
  }
  return loss;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] ?? 0) * (b[i] ?? 0);
  return s;
}

/** Minimise with L-BFGS; returns the final objective. `w` is updated in place. */
function lbfgs(w: Float64Array, f: (w: Float64Array, g: Float64Array) => number, iterations: number, memory = 10): number {
  const size = w.length;
  let g = new Float64Array(size);
  let fx = f(w, g);
  const ss: Float64Array[] = [];
  const ys: Float64Array[] = [];
  const trial = new Float64Array(size);
  const gTrial = new Float64Array(size);
  for (let it = 0; it < iterations; it++) {
    const gNorm = Math.sqrt(dot(g, g));
    if (gNorm < 1e-8) break;
    // Two-loop recursion: direction = -H g.
    const q = Float64Array.from(g);
    const alphas: number[] = [];
    for (let k = ss.length - 1; k >= 0; k--) {
      const s = ss[k] as Float64Array;
      const y = ys[k] as Float64Array;
      const a = dot(s, q) / dot(y, s);
      alphas[k] = a;
      for (let i = 0; i < size; i++) q[i] = (q[i] ?? 0) - a * (y[i] ?? 0);
    }
    const last = ss.length - 1;
    const gamma = last >= 0 ? dot(ss[last] as Float64Array, ys[last] as Float64Array) / dot(ys[last] as Float64Array, ys[last] as Float64Array) : 1 / gNorm;
    for (let i = 0; i < size; i++) q[i] = (q[i] ?? 0) * gamma;
    for (let k = 0; k < ss.length; k++) {
      const s = ss[k] as Float64Array;
      const y = ys[k] as Float64Array;
      const b = dot(y, q) / dot(y, s);
      const a = alphas[k] ?? 0;
      for (let i = 0; i < size; i++) q[i] = (q[i] ?? 0) + (a - b) * (s[i] ?? 0);
    }
    let slope = -dot(g, q);
    if (!(slope < 0)) {
      // Not a descent direction: restart from steepest descent.
      ss.length = 0;
      ys.length = 0;
      for (let i = 0; i < size; i++) q[i] = (g[i] ?? 0) / gNorm;
      slope = -dot(g, q);
    }
    let step = 1;
    let fTrial = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < size; i++) trial[i] = (w[i] ?? 0) - step * (q[i] ?? 0);
      fTrial = f(trial, gTrial);
      if (fTrial <= fx + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fTrial < fx)) break; // no progress possible
    const s = new Float64Array(size);
    const y = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      s[i] = (trial[i] ?? 0) - (w[i] ?? 0);
      y[i] = (gTrial[i] ?? 0) - (g[i] ?? 0);
    }
    w.set(trial);
    g = Float64Array.from(gTrial);
    fx = fTrial;
    if (dot(s, y) > 1e-10) {
      ss.push(s);
      ys.push(y);
      if (ss.length > memory) {
        ss.shift();
        ys.shift();
      }
    }
  }
  return fx;
}

function accuracy(w: Float64Array, data: Standardised, d: number, c: number): number {
  const logits = new Float64Array(c);
  let hits = 0;
  for (let i = 0; i < data.n; i++) {
    logitsOf(w, data.x, i, d, c, logits);
    let best = 0;
    for (let k = 1; k < c; k++) if ((logits[k] ?? 0) > (logits[best] ?? 0)) best = k;
    if (best === data.y[i]) hits++;
  }
  return data.n === 0 ? 0 : hits / data.n;
}

/** Fit on `train`, report accuracy on `test`. Both hold [n, d] features. */
export function linearProbe(train: LabelledFeatures, test: LabelledFeatures, d: number, options: LinearProbeOptions = {}): LinearProbeResult {
  expectInteger('d', d, 1);
  const l2 = expectNumber('l2', options.l2 ?? 1e-3, 0);
  const iterations = expectInteger('iterations', options.iterations ?? 100, 0);
  let maxLabel = -1;
  for (const y of [...train.y, ...test.y]) maxLabel = Math.max(maxLabel, y);
  const c = expectInteger('numClasses', options.numClasses ?? Math.max(2, maxLabel + 1), 2);
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  const nTrain = train.x.length / d;
  for (let i = 0; i < nTrain; i++) for (let j = 0; j < d; j++) mean[j] = (mean[j] ?? 0) + (train.x[i * d + j] ?? 0) / nTrain;
  for (let i = 0; i < nTrain; i++) for (let j = 0; j < d; j++) std[j] = (std[j] ?? 0) + ((train.x[i * d + j] ?? 0) - (mean[j] ?? 0)) ** 2 / nTrain;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j] ?? 0) || 1;
  const tr = select(train, d, mean, std);
  const te = select(test, d, mean, std);
  const w = new Float64Array((d + 1) * c);
  const loss = lbfgs(w, (ww, g) => objective(ww, tr, d, c, l2, g), iterations);
  return { top1: accuracy(w, te, d, c), trainTop1: accuracy(w, tr, d, c), n: te.n, loss };
}
