/**
 * LayerNorm over the last axis of `rows` rows of `width` floats (PyTorch nn.LayerNorm:
 * population variance, `eps` inside the square root), forward and backward, four features
 * at a time with scalar tails for widths that are not a multiple of 4.
 *
 * Forward, per row: `mean = sum(x) / w`, `var = sum((x - mean)^2) / w` (two passes, so a
 * large common offset does not cancel), `rstd = 1 / sqrt(var + eps)`,
 * `y = (x - mean) * rstd * gain + bias`; mean and rstd are written per row for the backward.
 *
 * Backward, with `xhat = (x - mean) * rstd` and `g = dy * gain`:
 * `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))` per row, and over all rows
 * `dgain = sum(dy * xhat)`, `dbias = sum(dy)`.
 */

/** Sum of the four lanes, ((l0 + l1) + (l2 + l3)). */
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * y = layerNorm(x) * gain + bias over rows of `width`; writes mean[r] and rstd[r] when
 * those pointers are not 0. y may be x.
 */
export function layerNorm(x: usize, gain: usize, bias: usize, y: usize, mean: usize, rstd: usize, rows: i32, width: i32, eps: f32): void {
  const w4 = width & ~3;
  const invW: f32 = <f32>1.0 / <f32>width;
  const rowBytes = <usize>width << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    // mean (four accumulators: the adds' latency, not their throughput, bounds one chain)
    let a0 = f32x4.splat(0);
    let a1 = a0;
    let a2 = a0;
    let a3 = a0;
    let i = 0;
    for (; i + 16 <= w4; i += 16) {
      const p = xr + (<usize>i << 2);
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
      a2 = f32x4.add(a2, v128.load(p, 32));
      a3 = f32x4.add(a3, v128.load(p, 48));
    }
    for (; i < w4; i += 4) a0 = f32x4.add(a0, v128.load(xr + (<usize>i << 2)));
    let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    for (; i < width; i++) s += load<f32>(xr + (<usize>i << 2));
    const m = s * invW;
    // variance around the mean
    const mv = f32x4.splat(m);
    a0 = f32x4.splat(0);
    a1 = a0;
    a2 = a0;
    a3 = a0;
    i = 0;
    for (; i + 16 <= w4; i += 16) {
      const p = xr + (<usize>i << 2);
      const d0 = f32x4.sub(v128.load(p), mv);
      const d1 = f32x4.sub(v128.load(p, 16), mv);
      const d2 = f32x4.sub(v128.load(p, 32), mv);
      const d3 = f32x4.sub(v128.load(p, 48), mv);
      a0 = f32x4.add(a0, f32x4.mul(d0, d0));
      a1 = f32x4.add(a1, f32x4.mul(d1, d1));
      a2 = f32x4.add(a2, f32x4.mul(d2, d2));
      a3 = f32x4.add(a3, f32x4.mul(d3, d3));
    }
    for (; i < w4; i += 4) {
      const d = f32x4.sub(v128.load(xr + (<usize>i << 2)), mv);
      a0 = f32x4.add(a0, f32x4.mul(d, d));
    }
    s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    for (; i < width; i++) {
      const d = load<f32>(xr + (<usize>i << 2)) - m;
      s += d * d;
    }
    const rs = <f32>1.0 / Mathf.sqrt(s * invW + eps);
    if (mean != 0) store<f32>(mean + (<usize>r << 2), m);
    if (rstd != 0) store<f32>(rstd + (<usize>r << 2), rs);
    // output
    const rv = f32x4.splat(rs);
    i = 0;
    for (; i < w4; i += 4) {
      const o = <usize>i << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      v128.store(yr + o, f32x4.add(f32x4.mul(xh, v128.load(gain + o)), v128.load(bias + o)));
    }
    for (; i < width; i++) {
      const o = <usize>i << 2;
      const xh = (load<f32>(xr + o) - m) * rs;
      store<f32>(yr + o, xh * load<f32>(gain + o) + load<f32>(bias + o));
    }
  }
}

/**
 * The gradients of {@link layerNorm} for dy: dx (rows x width; dx may be dy), and dgain,
 * dbias (width each, overwritten) summed over the rows. mean and rstd are the forward's.
 */
export function layerNormGrad(
  x: usize, gain: usize, dy: usize, mean: usize, rstd: usize,
  dx: usize, dgain: usize, dbias: usize, rows: i32, width: i32,
): void {
  const w4 = width & ~3;
  const invW: f32 = <f32>1.0 / <f32>width;
  const rowBytes = <usize>width << 2;
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i < w4; i += 4) {
    v128.store(dgain + (<usize>i << 2), zero);
    v128.store(dbias + (<usize>i << 2), zero);
  }
  for (; i < width; i++) {
    store<f32>(dgain + (<usize>i << 2), 0);
    store<f32>(dbias + (<usize>i << 2), 0);
  }
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const dyr = dy + <usize>r * rowBytes;
    const dxr = dx + <usize>r * rowBytes;
    const m = load<f32>(mean + (<usize>r << 2));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const mv = f32x4.splat(m);
    const rv = f32x4.splat(rs);
    // sums of g and g * xhat over the row; dgain, dbias accumulate over rows
    let ag = f32x4.splat(0);
    let agx = ag;
    let ag1 = ag;
    let agx1 = ag;
    i = 0;
    for (; i + 8 <= w4; i += 8) {
      const o = <usize>i << 2;
      const xh0 = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const xh1 = f32x4.mul(f32x4.sub(v128.load(xr + o, 16), mv), rv);
      const d0 = v128.load(dyr + o);
      const d1 = v128.load(dyr + o, 16);
      const g0 = f32x4.mul(d0, v128.load(gain + o));
      const g1 = f32x4.mul(d1, v128.load(gain + o, 16));
      ag = f32x4.add(ag, g0);
      ag1 = f32x4.add(ag1, g1);
      agx = f32x4.add(agx, f32x4.mul(g0, xh0));
      agx1 = f32x4.add(agx1, f32x4.mul(g1, xh1));
      v128.store(dgain + o, f32x4.add(v128.load(dgain + o), f32x4.mul(d0, xh0)));
      v128.store(dgain + o, f32x4.add(v128.load(dgain + o, 16), f32x4.mul(d1, xh1)), 16);
      v128.store(dbias + o, f32x4.add(v128.load(dbias + o), d0));
      v128.store(dbias + o, f32x4.add(v128.load(dbias + o, 16), d1), 16);
    }
    ag = f32x4.add(ag, ag1);
    agx = f32x4.add(agx, agx1);
    for (; i < w4; i += 4) {
      const o = <usize>i << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const d = v128.load(dyr + o);
      const g = f32x4.mul(d, v128.load(gain + o));
      ag = f32x4.add(ag, g);
      agx = f32x4.add(agx, f32x4.mul(g, xh));
      v128.store(dgain + o, f32x4.add(v128.load(dgain + o), f32x4.mul(d, xh)));
      v128.store(dbias + o, f32x4.add(v128.load(dbias + o), d));
    }
    let sg = hsum(ag);
    let sgx = hsum(agx);
    for (; i < width; i++) {
      const o = <usize>i << 2;
      const xh = (load<f32>(xr + o) - m) * rs;
      const d = load<f32>(dyr + o);
      const g = d * load<f32>(gain + o);
      sg += g;
      sgx += g * xh;
      store<f32>(dgain + o, load<f32>(dgain + o) + d * xh);
      store<f32>(dbias + o, load<f32>(dbias + o) + d);
    }
    const a = sg * invW;
    const b = sgx * invW;
    const av = f32x4.splat(a);
    const bv = f32x4.splat(b);
    i = 0;
    for (; i < w4; i += 4) {
      const o = <usize>i << 2;
      const xh = f32x4.mul(f32x4.sub(v128.load(xr + o), mv), rv);
      const g = f32x4.mul(v128.load(dyr + o), v128.load(gain + o));
      v128.store(dxr + o, f32x4.mul(rv, f32x4.sub(f32x4.sub(g, av), f32x4.mul(xh, bv))));
    }
    for (; i < width; i++) {
      const o = <usize>i << 2;
      const xh = (load<f32>(xr + o) - m) * rs;
      const g = load<f32>(dyr + o) * load<f32>(gain + o);
      store<f32>(dxr + o, rs * ((g - a) - xh * b));
    }
  }
}
