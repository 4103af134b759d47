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

/** Sum of Pillow's `L` values of `npix` pixels read through `lut`. */
export function lumaSum(p: usize, npix: i32, lut: usize): f64 {
  let sum: i64 = 0;
  const end = p + <usize>(npix * 3);
  for (let q = p; q < end; q += 3) {
    sum += <i64>luma(load<u8>(lut + <usize>load<u8>(q)), load<u8>(lut + <usize>load<u8>(q, 1)), load<u8>(lut + <usize>load<u8>(q, 2)));
  }
  return <f64>sum;
}

/** Grey (Pillow `L`) into all three channels, pixels read through `lut`. */
export function grayscale(p: usize, npix: i32, lut: usize): void {
  const end = p + <usize>(npix * 3);
  for (let q = p; q < end; q += 3) {
    const l = <u8>luma(load<u8>(lut + <usize>load<u8>(q)), load<u8>(lut + <usize>load<u8>(q, 1)), load<u8>(lut + <usize>load<u8>(q, 2)));
    store<u8>(q, l);
    store<u8>(q, l, 1);
    store<u8>(q, l, 2);
  }
}

@inline function blendClamp(t: f32): u8 {
  return t <= 0 ? 0 : t >= 255 ? 255 : <u8><i32>t;
}

/**
 * Saturation (blend with the grey level), pixels read through `lut`; `scaled` holds
 * the 511 float32 values `float32(alpha * k)`, k = -255..255, as colour.ts builds them.
 */
export function saturation(p: usize, npix: i32, lut: usize, scaled: usize): void {
  const end = p + <usize>(npix * 3);
  for (let q = p; q < end; q += 3) {
    const r = <u32>load<u8>(lut + <usize>load<u8>(q));
    const g = <u32>load<u8>(lut + <usize>load<u8>(q, 1));
    const b = <u32>load<u8>(lut + <usize>load<u8>(q, 2));
    const l = luma(r, g, b);
    const lf = <f32>l;
    const s = scaled + (<usize>(255 - l) << 2);
    store<u8>(q, blendClamp(lf + load<f32>(s + (<usize>r << 2))));
    store<u8>(q, blendClamp(lf + load<f32>(s + (<usize>g << 2))), 1);
    store<u8>(q, blendClamp(lf + load<f32>(s + (<usize>b << 2))), 2);
  }
}

@inline function roundHalfUp(x: f64): u8 {
  return <u8><i32>Math.floor(x + 0.5);
}

/**
 * Hue rotation through Pillow's 8-bit HSV (colour.ts adjustHue), pixels read through
 * `lut`. Tables (built by colour.ts, copied in once): `hueT` 3 x 65536 bytes, `satT`
 * 65536 bytes, `divT` 65536 float32, `sectorT` 256 bytes, `fracT` 256 float32.
 */
export function hue(p: usize, npix: i32, lut: usize, shift: i32, hueT: usize, satT: usize, divT: usize, sectorT: usize, fracT: usize): void {
  const end = p + <usize>(npix * 3);
  for (let q = p; q < end; q += 3) {
    const r = <i32>load<u8>(lut + <usize>load<u8>(q));
    const g = <i32>load<u8>(lut + <usize>load<u8>(q, 1));
    const b = <i32>load<u8>(lut + <usize>load<u8>(q, 2));
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    const us = <i32>load<u8>(satT + <usize>(((maxc - minc) << 8) | maxc));
    if (us == 0) {
      store<u8>(q, <u8>maxc);
      store<u8>(q, <u8>maxc, 1);
      store<u8>(q, <u8>maxc, 2);
      continue;
    }
    let h: i32;
    if (r == maxc) h = load<u8>(hueT + <usize>(((maxc - b) << 8) | (maxc - g)));
    else if (g == maxc) h = load<u8>(hueT + <usize>(65536 | ((maxc - r) << 8) | (maxc - b)));
    else h = load<u8>(hueT + <usize>(131072 | ((maxc - g) << 8) | (maxc - r)));
    const uh = (h + shift) & 255;
    const sector = load<u8>(sectorT + <usize>uh);
    const f = <f64>load<f32>(fracT + (<usize>uh << 2));
    const fs = <f64>load<f32>(divT + (<usize>((us << 8) | 255) << 2));
    const v = <f64>maxc;
    const vv = <u8>maxc;
    const pp = roundHalfUp(v * (1 - fs));
    const qq = roundHalfUp(v * (1 - fs * f));
    const tt = roundHalfUp(v * (1 - fs * (1 - f)));
    let o0: u8, o1: u8, o2: u8;
    if (sector == 0 || sector == 6) { o0 = vv; o1 = tt; o2 = pp; }
    else if (sector == 1) { o0 = qq; o1 = vv; o2 = pp; }
    else if (sector == 2) { o0 = pp; o1 = vv; o2 = tt; }
    else if (sector == 3) { o0 = pp; o1 = qq; o2 = vv; }
    else if (sector == 4) { o0 = tt; o1 = pp; o2 = vv; }
    else { o0 = vv; o1 = pp; o2 = qq; }
    store<u8>(q, o0);
    store<u8>(q, o1, 1);
    store<u8>(q, o2, 2);
  }
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
