/**
 * WebAssembly kernels of the per-view image operators (AssemblyScript, compiled by
 * `npm run build:wasm` to ../kernels.wasm). Every function works on 8-bit RGB at byte
 * addresses in this module's linear memory, which the TypeScript side
 * (../view.ts) lays out and fills; each one ports the integer (or float32) arithmetic
 * of the JavaScript reference operator next to it (resample.ts, colour.ts, blur.ts,
 * normalize.ts) so results are bit-identical. Buffers the SIMD loops write or read
 * 16 bytes at a time have 16 bytes of slack after them.
 */

const HALF: i32 = 1 << 21; // Pillow's 22-bit resampling precision, rounding term
const BLUR_HALF: i32 = 1 << 23; // 24-bit box blur rounding term

/** First free byte after the module's static data: the host lays out buffers from here. */
export function heapBase(): usize {
  return __heap_base;
}

@inline function px4(p: usize): v128 {
  // R G B (and one more byte) of the pixel at p as i32x4.
  return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
}

@inline function store3(o: usize, acc: v128): void {
  // Saturating narrow = clip to 0..255; writes 4 bytes (the 4th is overwritten by the next pixel or is slack).
  const h = i16x8.narrow_i32x4_s(acc, acc);
  store<u32>(o, i32x4.extract_lane(i8x16.narrow_i16x8_u(h, h), 0));
}

/**
 * Horizontal resampling pass (Pillow ImagingResampleHorizontal_8bpc with coefficients
 * padded to exactly `K` taps): `rows` rows of `src` (row pitch `pitch` bytes) -> `rows`
 * rows of `ow` RGB pixels at `dst`. `start[i]` is the byte offset of output pixel i's
 * first tap in a row, `weights[i * K + k]` its 22-bit fixed-point weights.
 */
export function resampleH(src: usize, pitch: i32, rows: i32, dst: usize, ow: i32, start: usize, weights: usize, K: i32): void {
  const half = i32x4.splat(HALF);
  let o = dst;
  for (let r = 0; r < rows; r++) {
    const rowIn = src + <usize>(r * pitch);
    let wp = weights;
    if (K == 3) {
      for (let i = 0; i < ow; i++, o += 3, wp += 12) {
        const p = rowIn + <usize>load<i32>(start + (<usize>i << 2));
        let acc = i32x4.add(half, i32x4.mul(px4(p), i32x4.splat(load<i32>(wp))));
        acc = i32x4.add(acc, i32x4.mul(px4(p + 3), i32x4.splat(load<i32>(wp, 4))));
        acc = i32x4.add(acc, i32x4.mul(px4(p + 6), i32x4.splat(load<i32>(wp, 8))));
        store3(o, i32x4.shr_s(acc, 22));
      }
    } else if (K == 5) {
      for (let i = 0; i < ow; i++, o += 3, wp += 20) {
        const p = rowIn + <usize>load<i32>(start + (<usize>i << 2));
        let acc = i32x4.add(half, i32x4.mul(px4(p), i32x4.splat(load<i32>(wp))));
        acc = i32x4.add(acc, i32x4.mul(px4(p + 3), i32x4.splat(load<i32>(wp, 4))));
        acc = i32x4.add(acc, i32x4.mul(px4(p + 6), i32x4.splat(load<i32>(wp, 8))));
        acc = i32x4.add(acc, i32x4.mul(px4(p + 9), i32x4.splat(load<i32>(wp, 12))));
        acc = i32x4.add(acc, i32x4.mul(px4(p + 12), i32x4.splat(load<i32>(wp, 16))));
        store3(o, i32x4.shr_s(acc, 22));
      }
    } else {
      for (let i = 0; i < ow; i++, o += 3) {
        let p = rowIn + <usize>load<i32>(start + (<usize>i << 2));
        let acc = half;
        for (let k = 0; k < K; k++, p += 3, wp += 4) {
          acc = i32x4.add(acc, i32x4.mul(px4(p), i32x4.splat(load<i32>(wp))));
        }
        store3(o, i32x4.shr_s(acc, 22));
      }
    }
  }
}

/**
 * Vertical resampling pass (Pillow ImagingResampleVertical_8bpc, `K` padded taps):
 * output row y of `oh` rows, `stride` bytes each, at `dst` is the weighted sum of the
 * K rows of `src` from row `start[y]`, 16 bytes at a time.
 */
export function resampleV(src: usize, stride: i32, oh: i32, dst: usize, start: usize, weights: usize, K: i32): void {
  const half = i32x4.splat(HALF);
  for (let y = 0; y < oh; y++) {
    const base = src + <usize>(load<i32>(start + (<usize>y << 2)) * stride);
    const wp = weights + <usize>(y * K * 4);
    const out = dst + <usize>(y * stride);
    for (let j = 0; j < stride; j += 16) {
      let a0 = half, a1 = half, a2 = half, a3 = half;
      let p = base + <usize>j;
      for (let k = 0; k < K; k++, p += <usize>stride) {
        const w = i32x4.splat(load<i32>(wp + (<usize>k << 2)));
        const v = v128.load(p);
        const lo = i16x8.extend_low_i8x16_u(v);
        const hi = i16x8.extend_high_i8x16_u(v);
        a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(lo), w));
        a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(lo), w));
        a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(hi), w));
        a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(hi), w));
      }
      const l = i16x8.narrow_i32x4_s(i32x4.shr_s(a0, 22), i32x4.shr_s(a1, 22));
      const h = i16x8.narrow_i32x4_s(i32x4.shr_s(a2, 22), i32x4.shr_s(a3, 22));
      v128.store(out + <usize>j, i8x16.narrow_i16x8_u(l, h));
    }
  }
}

/** `p[i] = lut[p[i]]` for n bytes. */
export function applyLut(p: usize, n: i32, lut: usize): void {
  const end = p + <usize>n;
  for (let q = p; q < end; q++) store<u8>(q, load<u8>(lut + <usize>load<u8>(q)));
}

@inline function luma(r: u32, g: u32, b: u32): u32 {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

// Four interleaved RGB pixels (12 bytes) -> one channel as u32 lanes, and back.
const R_OF4 = i8x16(0, -1, -1, -1, 3, -1, -1, -1, 6, -1, -1, -1, 9, -1, -1, -1);
const G_OF4 = i8x16(1, -1, -1, -1, 4, -1, -1, -1, 7, -1, -1, -1, 10, -1, -1, -1);
const B_OF4 = i8x16(2, -1, -1, -1, 5, -1, -1, -1, 8, -1, -1, -1, 11, -1, -1, -1);
const PACK4 = i8x16(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);

@inline function luma4(r: v128, g: v128, b: v128): v128 {
  const s = i32x4.add(i32x4.add(i32x4.mul(r, i32x4.splat(19595)), i32x4.mul(g, i32x4.splat(38470))), i32x4.add(i32x4.mul(b, i32x4.splat(7471)), i32x4.splat(0x8000)));
  return i32x4.shr_u(s, 16);
}

@inline function store4(q: usize, r: v128, g: v128, b: v128): void {
  // r | g << 8 | b << 16 per lane, then the 12 RGB bytes; the 4 bytes after them are left alone.
  const packed = i8x16.swizzle(v128.or(r, v128.or(i32x4.shl(g, 8), i32x4.shl(b, 16))), PACK4);
  v128.store64_lane(q, packed, 0);
  v128.store32_lane(q + 8, packed, 2);
}

/** Sum of Pillow's `L` values of `npix` pixels. */
export function lumaSum(p: usize, npix: i32): f64 {
  let sum: i64 = 0;
  const groups = npix >> 2;
  let q = p;
  for (let g0 = 0; g0 < groups; ) {
    // Lane sums stay below 2^31: at most 2^22 groups of 4 x 255 per flush.
    const stop = min<i32>(groups, g0 + (1 << 22));
    let acc = i32x4.splat(0);
    for (; g0 < stop; g0++, q += 12) {
      const v = v128.load(q);
      acc = i32x4.add(acc, luma4(i8x16.swizzle(v, R_OF4), i8x16.swizzle(v, G_OF4), i8x16.swizzle(v, B_OF4)));
    }
    sum += <i64>i32x4.extract_lane(acc, 0) + <i64>i32x4.extract_lane(acc, 1) + <i64>i32x4.extract_lane(acc, 2) + <i64>i32x4.extract_lane(acc, 3);
  }
  const end = p + <usize>(npix * 3);
  for (; q < end; q += 3) sum += <i64>luma(load<u8>(q), load<u8>(q, 1), load<u8>(q, 2));
  return <f64>sum;
}

/** Grey (Pillow `L`) into all three channels. */
export function grayscale(p: usize, npix: i32): void {
  const end4 = p + <usize>((npix & ~3) * 3);
  let q = p;
  for (; q < end4; q += 12) {
    const v = v128.load(q);
    const l = luma4(i8x16.swizzle(v, R_OF4), i8x16.swizzle(v, G_OF4), i8x16.swizzle(v, B_OF4));
    store4(q, l, l, l);
  }
  const end = p + <usize>(npix * 3);
  for (; q < end; q += 3) {
    const l = <u8>luma(load<u8>(q), load<u8>(q, 1), load<u8>(q, 2));
    store<u8>(q, l);
    store<u8>(q, l, 1);
    store<u8>(q, l, 2);
  }
}

@inline function blendClamp(t: f32): u8 {
  return t <= 0 ? 0 : t >= 255 ? 255 : <u8><i32>t;
}

@inline function blend4(c: v128, l: v128, lf: v128, alpha: v128): v128 {
  // float32(l + float32(alpha * (c - l))), truncated, clamped to 0..255 (Pillow's blend).
  const t = f32x4.add(lf, f32x4.mul(alpha, f32x4.convert_i32x4_s(i32x4.sub(c, l))));
  return i32x4.min_s(i32x4.max_s(i32x4.trunc_sat_f32x4_s(t), i32x4.splat(0)), i32x4.splat(255));
}

/**
 * Saturation: blend each pixel with its grey level by `alpha` (float32), as colour.ts
 * adjustSaturation: `float32(l + float32(alpha * (c - l)))`, truncated and clamped.
 */
export function saturation(p: usize, npix: i32, alpha: f32): void {
  const a = f32x4.splat(alpha);
  const end4 = p + <usize>((npix & ~3) * 3);
  let q = p;
  for (; q < end4; q += 12) {
    const v = v128.load(q);
    const r = i8x16.swizzle(v, R_OF4), g = i8x16.swizzle(v, G_OF4), b = i8x16.swizzle(v, B_OF4);
    const l = luma4(r, g, b);
    const lf = f32x4.convert_i32x4_s(l);
    store4(q, blend4(r, l, lf, a), blend4(g, l, lf, a), blend4(b, l, lf, a));
  }
  const end = p + <usize>(npix * 3);
  for (; q < end; q += 3) {
    const r = <i32>load<u8>(q), g = <i32>load<u8>(q, 1), b = <i32>load<u8>(q, 2);
    const l = <i32>luma(r, g, b);
    const lf = <f32>l;
    store<u8>(q, blendClamp(lf + alpha * <f32>(r - l)));
    store<u8>(q, blendClamp(lf + alpha * <f32>(g - l)), 1);
    store<u8>(q, blendClamp(lf + alpha * <f32>(b - l)), 2);
  }
}

/**
 * Hue rotation through Pillow's 8-bit HSV (colour.ts adjustHue), branch-free per pixel.
 * Tables (built by colour.ts, copied in once): `hueT` 3 x 65536 bytes, `satT` 65536
 * bytes, `scaleT` 256 float32 (`float32(s / 255)` of the 8-bit saturation s; 260 KiB in
 * all, so they stay in a core's L2 cache), `fracT` 256 float32, and `shiftT` 256 u32: for each 8-bit
 * hue, the bit shifts that pick the R, G and B outputs out of `v | p << 8 | q << 16 | t << 24`
 * (Pillow's hsv2rgb sector switch). A pixel with saturation 0 needs no special case:
 * its scale is 0, so p = q = t = v.
 */
export function hue(p: usize, npix: i32, shift: i32, hueT: usize, satT: usize, scaleT: usize, fracT: usize, shiftT: usize): void {
  const end4 = p + <usize>((npix & ~3) * 3);
  let q = p;
  // Four pixels per step: the arithmetic in i32x4 / f64x2, the table reads lane by lane.
  const one = f64x2.splat(1);
  const half = f64x2.splat(0.5);
  for (; q < end4; q += 12) {
    const px = v128.load(q);
    const r = i8x16.swizzle(px, R_OF4), g = i8x16.swizzle(px, G_OF4), b = i8x16.swizzle(px, B_OF4);
    const mx = i32x4.max_s(i32x4.max_s(r, g), b);
    const mn = i32x4.min_s(i32x4.min_s(r, g), b);
    const dr = i32x4.sub(mx, r), dg = i32x4.sub(mx, g), db = i32x4.sub(mx, b);
    const keyR = v128.or(i32x4.shl(db, 8), dg);
    const keyG = v128.or(i32x4.splat(65536), v128.or(i32x4.shl(dr, 8), db));
    const keyB = v128.or(i32x4.splat(131072), v128.or(i32x4.shl(dg, 8), dr));
    const key = v128.bitselect(keyR, v128.bitselect(keyG, keyB, i32x4.eq(g, mx)), i32x4.eq(r, mx));
    const sidx = v128.or(i32x4.shl(i32x4.sub(mx, mn), 8), mx);
    const us0 = <usize>load<u8>(satT + <usize>i32x4.extract_lane(sidx, 0));
    const us1 = <usize>load<u8>(satT + <usize>i32x4.extract_lane(sidx, 1));
    const us2 = <usize>load<u8>(satT + <usize>i32x4.extract_lane(sidx, 2));
    const us3 = <usize>load<u8>(satT + <usize>i32x4.extract_lane(sidx, 3));
    const uh0 = <usize>((<i32>load<u8>(hueT + <usize>i32x4.extract_lane(key, 0)) + shift) & 255);
    const uh1 = <usize>((<i32>load<u8>(hueT + <usize>i32x4.extract_lane(key, 1)) + shift) & 255);
    const uh2 = <usize>((<i32>load<u8>(hueT + <usize>i32x4.extract_lane(key, 2)) + shift) & 255);
    const uh3 = <usize>((<i32>load<u8>(hueT + <usize>i32x4.extract_lane(key, 3)) + shift) & 255);
    let fs = f32x4.splat(load<f32>(scaleT + (us0 << 2)));
    fs = f32x4.replace_lane(fs, 1, load<f32>(scaleT + (us1 << 2)));
    fs = f32x4.replace_lane(fs, 2, load<f32>(scaleT + (us2 << 2)));
    fs = f32x4.replace_lane(fs, 3, load<f32>(scaleT + (us3 << 2)));
    let fr = f32x4.splat(load<f32>(fracT + (uh0 << 2)));
    fr = f32x4.replace_lane(fr, 1, load<f32>(fracT + (uh1 << 2)));
    fr = f32x4.replace_lane(fr, 2, load<f32>(fracT + (uh2 << 2)));
    fr = f32x4.replace_lane(fr, 3, load<f32>(fracT + (uh3 << 2)));
    let sh = i32x4.splat(load<i32>(shiftT + (uh0 << 2)));
    sh = i32x4.replace_lane(sh, 1, load<i32>(shiftT + (uh1 << 2)));
    sh = i32x4.replace_lane(sh, 2, load<i32>(shiftT + (uh2 << 2)));
    sh = i32x4.replace_lane(sh, 3, load<i32>(shiftT + (uh3 << 2)));
    // p, q, t = round(v * (1 - s)), round(v * (1 - s * f)), round(v * (1 - s * (1 - f))) in f64, two lanes at a time.
    const mxHi = i32x4.shuffle(mx, mx, 2, 3, 2, 3);
    const fsHi = i32x4.shuffle(fs, fs, 2, 3, 2, 3);
    const frHi = i32x4.shuffle(fr, fr, 2, 3, 2, 3);
    const vL = f64x2.convert_low_i32x4_u(mx), vH = f64x2.convert_low_i32x4_u(mxHi);
    const sL = f64x2.promote_low_f32x4(fs), sH = f64x2.promote_low_f32x4(fsHi);
    const fL = f64x2.promote_low_f32x4(fr), fH = f64x2.promote_low_f32x4(frHi);
    const pp = i32x4.shuffle(
      i32x4.trunc_sat_f64x2_u_zero(f64x2.add(f64x2.mul(vL, f64x2.sub(one, sL)), half)),
      i32x4.trunc_sat_f64x2_u_zero(f64x2.add(f64x2.mul(vH, f64x2.sub(one, sH)), half)), 0, 1, 4, 5);
    const qq = i32x4.shuffle(
      i32x4.trunc_sat_f64x2_u_zero(f64x2.add(f64x2.mul(vL, f64x2.sub(one, f64x2.mul(sL, fL))), half)),
      i32x4.trunc_sat_f64x2_u_zero(f64x2.add(f64x2.mul(vH, f64x2.sub(one, f64x2.mul(sH, fH))), half)), 0, 1, 4, 5);
    const tt = i32x4.shuffle(
      i32x4.trunc_sat_f64x2_u_zero(f64x2.add(f64x2.mul(vL, f64x2.sub(one, f64x2.mul(sL, f64x2.sub(one, fL)))), half)),
      i32x4.trunc_sat_f64x2_u_zero(f64x2.add(f64x2.mul(vH, f64x2.sub(one, f64x2.mul(sH, f64x2.sub(one, fH)))), half)), 0, 1, 4, 5);
    store4(q, pick(sh, mx, pp, qq, tt), pick(i32x4.shr_u(sh, 8), mx, pp, qq, tt), pick(i32x4.shr_u(sh, 16), mx, pp, qq, tt));
  }
  const end = p + <usize>(npix * 3);
  for (; q < end; q += 3) {
    const r = <i32>load<u8>(q);
    const g = <i32>load<u8>(q, 1);
    const b = <i32>load<u8>(q, 2);
    const maxc = max<i32>(max<i32>(r, g), b);
    const minc = min<i32>(min<i32>(r, g), b);
    const us = <i32>load<u8>(satT + <usize>(((maxc - minc) << 8) | maxc));
    const key = select<i32>(((maxc - b) << 8) | (maxc - g), select<i32>(65536 | ((maxc - r) << 8) | (maxc - b), 131072 | ((maxc - g) << 8) | (maxc - r), g == maxc), r == maxc);
    const uh = (<i32>load<u8>(hueT + <usize>key) + shift) & 255;
    const f = <f64>load<f32>(fracT + (<usize>uh << 2));
    const fs = <f64>load<f32>(scaleT + (<usize>us << 2));
    const v = <f64>maxc;
    // C round() of a value >= 0: truncation of x + 0.5.
    const pp = <u32>(v * (1 - fs) + 0.5);
    const qq = <u32>(v * (1 - fs * f) + 0.5);
    const tt = <u32>(v * (1 - fs * (1 - f)) + 0.5);
    const word = <u32>maxc | (pp << 8) | (qq << 16) | (tt << 24);
    const sh = load<u32>(shiftT + (<usize>uh << 2));
    store<u8>(q, <u8>(word >> (sh & 31)));
    store<u8>(q, <u8>(word >> ((sh >> 8) & 31)), 1);
    store<u8>(q, <u8>(word >> ((sh >> 16) & 31)), 2);
  }
}

@inline function pick(code: v128, v: v128, p: v128, q: v128, t: v128): v128 {
  // Per lane: v, p, q or t for a low byte of `code` of 0, 8, 16 or 24.
  const c = v128.and(code, i32x4.splat(255));
  return v128.bitselect(v, v128.bitselect(p, v128.bitselect(q, t, i32x4.eq(c, i32x4.splat(16))), i32x4.eq(c, i32x4.splat(8))), i32x4.eq(c, i32x4.splat(0)));
}

@inline function boxBlur16(l2: v128, l1: v128, c: v128, r1: v128, r2: v128, k0: v128, k1: v128, k2: v128): v128 {
  // c * k0 + (l1 + r1) * k1 + (l2 + r2) * k2 + 2^23 >>> 24 for 16 bytes (u32 arithmetic as Pillow's).
  const half = i32x4.splat(BLUR_HALF);
  const cl = i16x8.extend_low_i8x16_u(c), ch = i16x8.extend_high_i8x16_u(c);
  const nl = i16x8.add(i16x8.extend_low_i8x16_u(l1), i16x8.extend_low_i8x16_u(r1));
  const nh = i16x8.add(i16x8.extend_high_i8x16_u(l1), i16x8.extend_high_i8x16_u(r1));
  const fl = i16x8.add(i16x8.extend_low_i8x16_u(l2), i16x8.extend_low_i8x16_u(r2));
  const fh = i16x8.add(i16x8.extend_high_i8x16_u(l2), i16x8.extend_high_i8x16_u(r2));
  let a0 = i32x4.add(half, i32x4.mul(i32x4.extend_low_i16x8_u(cl), k0));
  let a1 = i32x4.add(half, i32x4.mul(i32x4.extend_high_i16x8_u(cl), k0));
  let a2 = i32x4.add(half, i32x4.mul(i32x4.extend_low_i16x8_u(ch), k0));
  let a3 = i32x4.add(half, i32x4.mul(i32x4.extend_high_i16x8_u(ch), k0));
  a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(nl), k1));
  a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(nl), k1));
  a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(nh), k1));
  a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(nh), k1));
  a0 = i32x4.add(a0, i32x4.mul(i32x4.extend_low_i16x8_u(fl), k2));
  a1 = i32x4.add(a1, i32x4.mul(i32x4.extend_high_i16x8_u(fl), k2));
  a2 = i32x4.add(a2, i32x4.mul(i32x4.extend_low_i16x8_u(fh), k2));
  a3 = i32x4.add(a3, i32x4.mul(i32x4.extend_high_i16x8_u(fh), k2));
  // Each sum is < 2^32 and the quotient < 256: the unsigned shift leaves 0..255, the narrows keep it.
  const l = i16x8.narrow_i32x4_s(i32x4.shr_u(a0, 24), i32x4.shr_u(a1, 24));
  const h = i16x8.narrow_i32x4_s(i32x4.shr_u(a2, 24), i32x4.shr_u(a3, 24));
  return i8x16.narrow_i16x8_u(l, h);
}

@inline function padLine(line: usize, w: i32): void {
  // line holds the row at line + 6; replicate the edge pixels twice on each side.
  const last = line + 6 + <usize>((w - 1) * 3);
  for (let c = 0; c < 3; c++) {
    const a = load<u8>(line + 6 + <usize>c);
    store<u8>(line + <usize>c, a);
    store<u8>(line + 3 + <usize>c, a);
    const z = load<u8>(last + <usize>c);
    store<u8>(last + 3 + <usize>c, z);
    store<u8>(last + 6 + <usize>c, z);
  }
}

/**
 * Pillow's gaussian blur for box radius 0 or 1 (blur.ts small-box path): three passes
 * of the 5-tap integer kernel (k0 centre, k1 near pair, k2 far pair) along rows, then
 * three down columns, edges extended. The image is `w` x `h` at `img`; `tmp` is a
 * scratch image of the same size, `lineA`/`lineB` scratch rows of (w + 4) * 3 + 16 bytes.
 */
export function blurSmall(img: usize, w: i32, h: i32, k0i: i32, k1i: i32, k2i: i32, tmp: usize, lineA: usize, lineB: usize): void {
  const k0 = i32x4.splat(k0i), k1 = i32x4.splat(k1i), k2 = i32x4.splat(k2i);
  const stride = w * 3;
  for (let y = 0; y < h; y++) {
    const row = img + <usize>(y * stride);
    let a = lineA, b = lineB;
    memory.copy(a + 6, row, <usize>stride);
    padLine(a, w);
    for (let pass = 0; pass < 3; pass++) {
      for (let j = 0; j < stride; j += 16) {
        const p = a + <usize>j;
        v128.store(b + 6 + <usize>j, boxBlur16(v128.load(p), v128.load(p + 3), v128.load(p + 6), v128.load(p + 9), v128.load(p + 12), k0, k1, k2));
      }
      padLine(b, w);
      const t = a; a = b; b = t;
    }
    memory.copy(row, a + 6, <usize>stride);
  }
  let src = img, dst = tmp;
  const last = h - 1;
  for (let pass = 0; pass < 3; pass++) {
    for (let y = 0; y < h; y++) {
      const rm2 = src + <usize>(max<i32>(y - 2, 0) * stride);
      const rm1 = src + <usize>(max<i32>(y - 1, 0) * stride);
      const r0 = src + <usize>(y * stride);
      const rp1 = src + <usize>(min<i32>(y + 1, last) * stride);
      const rp2 = src + <usize>(min<i32>(y + 2, last) * stride);
      const out = dst + <usize>(y * stride);
      for (let j = 0; j < stride; j += 16) {
        const o = <usize>j;
        v128.store(out + o, boxBlur16(v128.load(rm2 + o), v128.load(rm1 + o), v128.load(r0 + o), v128.load(rp1 + o), v128.load(rp2 + o), k0, k1, k2));
      }
    }
    const t = src; src = dst; dst = t;
  }
  // Three passes: the result is in tmp.
  memory.copy(img, src, <usize>(stride * h));
}

/** NHWC float32 through a 3 x 256 table: `out[i] = table[(i % 3) * 256 + p[i]]`, npix pixels. */
export function normalize(p: usize, npix: i32, table: usize, out: usize): void {
  const end = p + <usize>(npix * 3);
  let o = out;
  for (let q = p; q < end; q += 3, o += 12) {
    store<f32>(o, load<f32>(table + (<usize>load<u8>(q) << 2)));
    store<f32>(o, load<f32>(table + 1024 + (<usize>load<u8>(q, 1) << 2)), 4);
    store<f32>(o, load<f32>(table + 2048 + (<usize>load<u8>(q, 2) << 2)), 8);
  }
}
