/**
 * exp for arguments <= 0 (softmax after subtracting the row maximum, GELU's Gaussian):
 * Cephes' expf (range reduction by ln 2 in two parts, a degree-5 polynomial, the power of
 * two built in the exponent bits), four lanes at a time and scalar with the same steps.
 * Arguments below -87 are clamped there (e^-87 is ~1.6e-38).
 */

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

/** e^t for t <= 0 (clamped below at -87, where e^t is ~1.6e-38). */
@inline export function expNeg4(t: v128): v128 {
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

@inline export function expNeg1(t: f32): f32 {
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

