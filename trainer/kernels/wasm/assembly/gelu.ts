/**
 * Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (PyTorch nn.GELU), and its gradient
 * `dy * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))`, four lanes at a time.
 * erf is the rational approximation of Eigen/TensorFlow (`generic_fast_erf_float`, a few
 * ulp on [-4, 4], clamped outside), exp is math.ts's. The scalar tails use the same
 * formulas in the same order. Measured on one core: ~3 ns per element forward, ~5.5
 * backward, bound by the arithmetic (the division and two polynomials), not by memory.
 */

import { expNeg1, expNeg4 } from './math';

// erf(x) = x P(x^2) / Q(x^2) on [-4, 4]
const A1: f32 = -1.60960333262415e-02;
const A3: f32 = -2.95459980854025e-03;
const A5: f32 = -7.34990630326855e-04;
const A7: f32 = -5.69250639462346e-05;
const A9: f32 = -2.10102402082508e-06;
const A11: f32 = 2.77068142495902e-08;
const A13: f32 = -2.72614225801306e-10;
const B0: f32 = -1.42647390514189e-02;
const B2: f32 = -7.37332916720468e-03;
const B4: f32 = -1.68282697438203e-03;
const B6: f32 = -2.13374055278905e-04;
const B8: f32 = -1.45660718464996e-05;

const RSQRT2: f32 = 0.70710678118654752;
const RSQRT2PI: f32 = 0.39894228040143268;

@inline function erf4(x: v128): v128 {
  const c = f32x4.pmax(f32x4.pmin(x, f32x4.splat(4.0)), f32x4.splat(-4.0));
  const x2 = f32x4.mul(c, c);
  let p = f32x4.add(f32x4.mul(x2, f32x4.splat(A13)), f32x4.splat(A11));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(A9));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(A7));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(A5));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(A3));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(A1));
  p = f32x4.mul(c, p);
  let q = f32x4.add(f32x4.mul(x2, f32x4.splat(B8)), f32x4.splat(B6));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(B4));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(B2));
  q = f32x4.add(f32x4.mul(q, x2), f32x4.splat(B0));
  return f32x4.div(p, q);
}

@inline function erf1(x: f32): f32 {
  const c = max(min(x, <f32>4.0), <f32>-4.0);
  const x2 = c * c;
  let p = x2 * A13 + A11;
  p = p * x2 + A9;
  p = p * x2 + A7;
  p = p * x2 + A5;
  p = p * x2 + A3;
  p = p * x2 + A1;
  p = c * p;
  let q = x2 * B8 + B6;
  q = q * x2 + B4;
  q = q * x2 + B2;
  q = q * x2 + B0;
  return p / q;
}

/** out[i] = gelu(x[i]) for n floats (out may be x). */
export function gelu(x: usize, out: usize, n: i32): void {
  const half = f32x4.splat(0.5);
  const one = f32x4.splat(1.0);
  const s = f32x4.splat(RSQRT2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    v128.store(out + o, f32x4.mul(f32x4.mul(v, half), f32x4.add(erf4(f32x4.mul(v, s)), one)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(out + o, v * <f32>0.5 * (erf1(v * RSQRT2) + <f32>1.0));
  }
}

/** dx[i] = dy[i] * gelu'(x[i]) for n floats (dx may be dy). */
export function geluGrad(x: usize, dy: usize, dx: usize, n: i32): void {
  const half = f32x4.splat(0.5);
  const one = f32x4.splat(1.0);
  const s = f32x4.splat(RSQRT2);
  const k = f32x4.splat(RSQRT2PI);
  const mhalf = f32x4.splat(-0.5);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    const cdf = f32x4.mul(half, f32x4.add(erf4(f32x4.mul(v, s)), one));
    const pdf = f32x4.mul(k, expNeg4(f32x4.mul(mhalf, f32x4.mul(v, v))));
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), f32x4.add(cdf, f32x4.mul(v, pdf))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    const cdf = <f32>0.5 * (erf1(v * RSQRT2) + <f32>1.0);
    const pdf = RSQRT2PI * expNeg1(<f32>-0.5 * (v * v));
    store<f32>(dx + o, load<f32>(dy + o) * (cdf + v * pdf));
  }
}
