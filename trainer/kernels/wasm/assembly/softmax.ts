/**
 * Log-softmax over the last axis of `rows` x `cols` float32 rows and its gradient, four
 * lanes at a time: y = (x - max) - log sum exp(x - max); dx = dy - exp(y) * sum(dy).
 * The row sums accumulate in float64 (two f64x2 lanes pairs), as the cpu backend's do:
 * the MLM head sums 4100 terms per row.
 */
import { expNeg1, expNeg4 } from './math';

/** acc (f64x2) += the four lanes of v (f32x4), promoted. */
@inline function addWide(acc: v128, v: v128): v128 {
  const lo = f64x2.promote_low_f32x4(v);
  const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f64x2.add(acc, f64x2.add(lo, hi));
}

/**
 * Natural log of a positive, finite f64 without tables (AssemblyScript's Math.log has
 * lookup tables, i.e. static data, which this module must not have): s = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh((m - 1) / (m + 1)) by its odd series to f^15
 * (|f| <= 0.172: error below 1e-12, far under float32's resolution).
 */
function logPositive(s: f64): f64 {
  const bits = reinterpret<u64>(s);
  let e = <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0xfffffffffffff) | 0x3ff0000000000000);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  const f = (m - 1) / (m + 1);
  const f2 = f * f;
  const series = 1 + f2 * (1.0 / 3 + f2 * (1.0 / 5 + f2 * (1.0 / 7 + f2 * (1.0 / 9 + f2 * (1.0 / 11 + f2 * (1.0 / 13 + f2 / 15))))));
  return <f64>e * 0.6931471805599453 + 2 * f * series;
}

@inline function hsumWide(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** y[r, :] = log softmax(x[r, :]) (y may be x). */
export function logSoftmax(x: usize, y: usize, rows: i32, cols: i32): void {
  const c4 = cols & ~3;
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    // row maximum (NaN-propagating max: a NaN row stays NaN)
    let mx: f32 = -Infinity;
    let j = 0;
    if (c4 > 0) {
      let m4 = v128.load(xr);
      for (j = 4; j < c4; j += 4) m4 = f32x4.max(m4, v128.load(xr + (<usize>j << 2)));
      mx = hmax(m4);
    }
    for (; j < cols; j++) mx = max(mx, load<f32>(xr + (<usize>j << 2)));
    const m = f32x4.splat(mx);
    let s2 = f64x2.splat(0);
    for (j = 0; j < c4; j += 4) s2 = addWide(s2, expNeg4(f32x4.sub(v128.load(xr + (<usize>j << 2)), m)));
    let s = hsumWide(s2);
    for (; j < cols; j++) s += <f64>expNeg1(load<f32>(xr + (<usize>j << 2)) - mx);
    const ls = <f32>logPositive(s);
    const l = f32x4.splat(ls);
    for (j = 0; j < c4; j += 4) v128.store(yr + (<usize>j << 2), f32x4.sub(f32x4.sub(v128.load(xr + (<usize>j << 2)), m), l));
    for (; j < cols; j++) store<f32>(yr + (<usize>j << 2), (load<f32>(xr + (<usize>j << 2)) - mx) - ls);
  }
}

/** dx[r, :] = dy[r, :] - exp(y[r, :]) * sum(dy[r, :]) (dx may be dy). */
export function logSoftmaxGrad(y: usize, dy: usize, dx: usize, rows: i32, cols: i32): void {
  const c4 = cols & ~3;
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) {
    const yr = y + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    let s2 = f64x2.splat(0);
    let j = 0;
    for (; j < c4; j += 4) s2 = addWide(s2, v128.load(dyr + (<usize>j << 2)));
    let sw = hsumWide(s2);
    for (; j < cols; j++) sw += <f64>load<f32>(dyr + (<usize>j << 2));
    const s = <f32>sw;
    const sv = f32x4.splat(s);
    for (j = 0; j < c4; j += 4) {
      const o = <usize>j << 2;
      v128.store(dxr + o, f32x4.sub(v128.load(dyr + o), f32x4.mul(expNeg4(v128.load(yr + o)), sv)));
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      store<f32>(dxr + o, load<f32>(dyr + o) - expNeg1(load<f32>(yr + o)) * s);
    }
  }
}
