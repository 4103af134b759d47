/**
 * Batched products of small matrices (attention's per-head products and their
 * gradients: 17-24 rows, 17-32 columns, hundreds of them per call), four lanes at a time.
 * One call covers the whole batch, where the backend's XNNPACK path costs ~20 us of setup
 * per matrix. Row-major float32; `a`, `b`, `c` are byte offsets; `strideA`/`strideB` are
 * the floats between consecutive batch items (0 broadcasts one matrix over the batch).
 * Sums run in index order over the shared dimension.
 */

/**
 * c[i, :] = sum_p A(i, p) * b[p, :] where A(i, p) = a[i * rs + p * cs]: the plain product
 * (rs = k, cs = 1) and the one with A transposed (rs = 1, cs = m) share this loop.
 */
function rowsTimesB(a: usize, rs: i32, cs: i32, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  const zero = f32x4.splat(0);
  const nBytes = <usize>n << 2;
  for (let i = 0; i < m; i++) {
    const crow = c + <usize>i * nBytes;
    const arow = a + (<usize>(i * rs) << 2);
    const aStep = <usize>cs << 2;
    let j = 0;
    for (; j + 16 <= n; j += 16) {
      let c0 = zero;
      let c1 = zero;
      let c2 = zero;
      let c3 = zero;
      let ap = arow;
      let bp = b + (<usize>j << 2);
      for (let p = 0; p < k; p++) {
        const av = f32x4.splat(load<f32>(ap));
        c0 = f32x4.add(c0, f32x4.mul(av, v128.load(bp)));
        c1 = f32x4.add(c1, f32x4.mul(av, v128.load(bp, 16)));
        c2 = f32x4.add(c2, f32x4.mul(av, v128.load(bp, 32)));
        c3 = f32x4.add(c3, f32x4.mul(av, v128.load(bp, 48)));
        ap += aStep;
        bp += nBytes;
      }
      const o = crow + (<usize>j << 2);
      v128.store(o, c0);
      v128.store(o, c1, 16);
      v128.store(o, c2, 32);
      v128.store(o, c3, 48);
    }
    for (; j + 4 <= n; j += 4) {
      let c0 = zero;
      let ap = arow;
      let bp = b + (<usize>j << 2);
      for (let p = 0; p < k; p++) {
        c0 = f32x4.add(c0, f32x4.mul(f32x4.splat(load<f32>(ap)), v128.load(bp)));
        ap += aStep;
        bp += nBytes;
      }
      v128.store(crow + (<usize>j << 2), c0);
    }
    for (; j < n; j++) {
      let s: f32 = 0;
      let ap = arow;
      let bp = b + (<usize>j << 2);
      for (let p = 0; p < k; p++) {
        s += load<f32>(ap) * load<f32>(bp);
        ap += aStep;
        bp += nBytes;
      }
      store<f32>(crow + (<usize>j << 2), s);
    }
  }
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** c[i, j] = dot(a[i, :], b[j, :]): the product with B transposed (rows of both contiguous). */
function rowsDotRows(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  const zero = f32x4.splat(0);
  const kBytes = <usize>k << 2;
  const k4 = k & ~3;
  for (let i = 0; i < m; i++) {
    const arow = a + <usize>i * kBytes;
    const crow = c + (<usize>(i * n) << 2);
    let j = 0;
    for (; j + 2 <= n; j += 2) {
      // two rows of B per pass: each load of A's row serves both
      const b0 = b + <usize>j * kBytes;
      const b1 = b0 + kBytes;
      let s0 = zero;
      let s1 = zero;
      let p = 0;
      for (; p < k4; p += 4) {
        const o = <usize>p << 2;
        const av = v128.load(arow + o);
        s0 = f32x4.add(s0, f32x4.mul(av, v128.load(b0 + o)));
        s1 = f32x4.add(s1, f32x4.mul(av, v128.load(b1 + o)));
      }
      let t0 = hsum(s0);
      let t1 = hsum(s1);
      for (; p < k; p++) {
        const o = <usize>p << 2;
        const av = load<f32>(arow + o);
        t0 += av * load<f32>(b0 + o);
        t1 += av * load<f32>(b1 + o);
      }
      store<f32>(crow + (<usize>j << 2), t0);
      store<f32>(crow + (<usize>j << 2), t1, 4);
    }
    if (j < n) {
      const b0 = b + <usize>j * kBytes;
      let s0 = zero;
      let p = 0;
      for (; p < k4; p += 4) {
        const o = <usize>p << 2;
        s0 = f32x4.add(s0, f32x4.mul(v128.load(arow + o), v128.load(b0 + o)));
      }
      let t0 = hsum(s0);
      for (; p < k; p++) t0 += load<f32>(arow + (<usize>p << 2)) * load<f32>(b0 + (<usize>p << 2));
      store<f32>(crow + (<usize>j << 2), t0);
    }
  }
}

/** c[i, j] = sum_p a[p, i] * b[j, p] (both transposed; rare, scalar). */
function bothTransposed(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s: f32 = 0;
      for (let p = 0; p < k; p++) s += load<f32>(a + (<usize>(p * m + i) << 2)) * load<f32>(b + (<usize>(j * k + p) << 2));
      store<f32>(c + (<usize>(i * n + j) << 2), s);
    }
  }
}

/**
 * c[t] = op(a[t]) @ op(b[t]) for t < batch, op(A) m x k, op(B) k x n, c[t] m x n
 * (contiguous). `transA`/`transB` nonzero: the operand is stored transposed.
 */
export function batchMatMul(
  a: usize, b: usize, c: usize,
  batch: i32, m: i32, k: i32, n: i32,
  transA: i32, transB: i32,
  strideA: i32, strideB: i32,
): void {
  const cStep = <usize>(m * n) << 2;
  for (let t = 0; t < batch; t++) {
    const at = a + (<usize>(t * strideA) << 2);
    const bt = b + (<usize>(t * strideB) << 2);
    const ct = c + <usize>t * cStep;
    if (transB == 0) {
      if (transA == 0) rowsTimesB(at, k, 1, bt, ct, m, k, n);
      else rowsTimesB(at, 1, m, bt, ct, m, k, n);
    } else if (transA == 0) {
      rowsDotRows(at, bt, ct, m, k, n);
    } else {
      bothTransposed(at, bt, ct, m, k, n);
    }
  }
}
