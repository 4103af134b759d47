/**
 * Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (PyTorch nn.GELU), and its gradient
 * `dy * (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))`, four lanes at a time.
 * erf is the rational approximation of Eigen/TensorFlow (`generic_fast_erf_float`, a few
 * ulp on [-4, 4], clamped outside), exp is Cephes' expf (range reduction by ln 2 and a
 * degree-5 polynomial). The scalar tails use the same formulas in the same order.
 */

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

// expf (Cephes)
const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
const EXP_LO: f32 = -87.0;

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

/** e^t for t <= 0 (clamped below at -87, where e^t is ~1.6e-38). */
@inline function expNeg4(t: v128): v128 {
  const x = f32x4.pmax(t, f32x4.splat(EXP_LO));
  const n = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(0.5)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(C1))), f32x4.mul(n, f32x4.splat(C2)));
  let p = f32x4.add(f32x4.mul(f32x4.splat(P0), r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

@inline function expNeg1(t: f32): f32 {
  const x = max(t, EXP_LO);
  const n = Mathf.floor(x * LOG2E + <f32>0.5);
  const r = x - n * C1 - n * C2;
  let p = P0 * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  const y = p * r * r + r + <f32>1.0;
  return y * reinterpret<f32>((<i32>n + 127) << 23);
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
