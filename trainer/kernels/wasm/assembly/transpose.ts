/**
 * Transpose of 4-byte elements (float32 or int32) for up to four axes (the host drops
 * size-1 axes, merges axes that stay adjacent and pads to four): out = x permuted by
 * (p0, p1, p2, p3), x of shape (s0, s1, s2, s3). Three loops:
 * - the last axis stays last: contiguous runs copied with memory.copy;
 * - the last two axes swap (2-D and batched 2-D transposes: a dense layer's weight, the
 *   transposed operand of a product): 4 x 4 blocks transposed in registers;
 * - anything else: element by element with source strides.
 */

@inline function pick(i: i32, v0: i32, v1: i32, v2: i32, v3: i32): i32 {
  return i == 0 ? v0 : i == 1 ? v1 : i == 2 ? v2 : v3;
}

@inline function block4(x0: usize, inRow: usize, dst: usize, outRow: usize): void {
  const a = v128.load(x0);
  const b = v128.load(x0 + inRow);
  const c = v128.load(x0 + 2 * inRow);
  const d = v128.load(x0 + 3 * inRow);
  const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(dst + outRow, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(dst + 2 * outRow, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * outRow, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/**
 * out (cols x rows) = x (rows x cols) transposed: 4 x 4 blocks, taken 16 rows at a time so
 * each 64-byte line of the output is written whole before moving on.
 */
function transpose2d(x: usize, out: usize, rows: i32, cols: i32): void {
  const inRow = <usize>cols << 2;
  const outRow = <usize>rows << 2;
  const r16 = rows & ~15;
  const r4 = rows & ~3;
  const c4 = cols & ~3;
  let i = 0;
  for (; i < r16; i += 16) {
    const x0 = x + <usize>i * inRow;
    for (let j = 0; j < c4; j += 4) {
      const src = x0 + (<usize>j << 2);
      const dst = out + <usize>j * outRow + (<usize>i << 2);
      block4(src, inRow, dst, outRow);
      block4(src + 4 * inRow, inRow, dst + 16, outRow);
      block4(src + 8 * inRow, inRow, dst + 32, outRow);
      block4(src + 12 * inRow, inRow, dst + 48, outRow);
    }
  }
  for (; i < r4; i += 4) {
    const x0 = x + <usize>i * inRow;
    for (let j = 0; j < c4; j += 4) block4(x0 + (<usize>j << 2), inRow, out + <usize>j * outRow + (<usize>i << 2), outRow);
  }
  // column tail (cols % 4) of the rows done in blocks, then the row tail (rows % 4) whole
  for (let ii = 0; ii < r4; ii++) {
    const xr = x + <usize>ii * inRow;
    for (let j = c4; j < cols; j++) store<u32>(out + <usize>j * outRow + (<usize>ii << 2), load<u32>(xr + (<usize>j << 2)));
  }
  for (let ii = r4; ii < rows; ii++) {
    const xr = x + <usize>ii * inRow;
    for (let j = 0; j < cols; j++) store<u32>(out + <usize>j * outRow + (<usize>ii << 2), load<u32>(xr + (<usize>j << 2)));
  }
}

export function transpose4(x: usize, out: usize, s0: i32, s1: i32, s2: i32, s3: i32, p0: i32, p1: i32, p2: i32, p3: i32): void {
  const st0 = s1 * s2 * s3;
  const st1 = s2 * s3;
  const st2 = s3;
  const o0 = pick(p0, s0, s1, s2, s3);
  const o1 = pick(p1, s0, s1, s2, s3);
  const o2 = pick(p2, s0, s1, s2, s3);
  const o3 = pick(p3, s0, s1, s2, s3);
  const q0 = pick(p0, st0, st1, st2, 1);
  const q1 = pick(p1, st0, st1, st2, 1);
  const q2 = pick(p2, st0, st1, st2, 1);
  const q3 = pick(p3, st0, st1, st2, 1);
  let dst = out;
  if (p3 == 3) {
    const run = <usize>o3 << 2;
    for (let a = 0; a < o0; a++) {
      for (let b = 0; b < o1; b++) {
        for (let c = 0; c < o2; c++) {
          memory.copy(dst, x + (<usize>(a * q0 + b * q1 + c * q2) << 2), run);
          dst += run;
        }
      }
    }
  } else if (p2 == 3 && p3 == 2) {
    // the two inner axes are contiguous (s2 x s3) matrices in x and (s3 x s2) ones in out
    const block = <usize>(s2 * s3) << 2;
    for (let a = 0; a < o0; a++) {
      for (let b = 0; b < o1; b++) {
        transpose2d(x + (<usize>(a * q0 + b * q1) << 2), dst, s2, s3);
        dst += block;
      }
    }
  } else {
    for (let a = 0; a < o0; a++) {
      for (let b = 0; b < o1; b++) {
        for (let c = 0; c < o2; c++) {
          let src = a * q0 + b * q1 + c * q2;
          for (let d = 0; d < o3; d++) {
            store<u32>(dst, load<u32>(x + (<usize>src << 2)));
            dst += 4;
            src += q3;
          }
        }
      }
    }
  }
}
