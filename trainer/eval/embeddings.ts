/**
 * Small helpers on row-major embedding matrices held in Float32Arrays ([n, d]).
 *
 * @example
 * ```ts
 * const unit = normalizeRows(new Float32Array([3, 4]), 2); // [0.6, 0.8]
 * ```
 */

/** A copy of `x` ([n, d]) with every row scaled to unit L2 norm (zero rows stay zero). */
export function normalizeRows(x: Float32Array, d: number): Float32Array {
  if (d <= 0 || x.length % d !== 0) throw new RangeError(`normalizeRows: ${x.length} values is not a multiple of d=${d}`);
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += d) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (x[r + j] ?? 0) ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[r + j] = (x[r + j] ?? 0) * inv;
  }
  return out;
}

/** `a @ b^T` for a [n, d] and b [m, d]: a [n, m] similarity matrix (Float64 accumulation). */
export function similarity(a: Float32Array, b: Float32Array, d: number): Float32Array {
  const n = a.length / d;
  const m = b.length / d;
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (a[i * d + j] ?? 0) * (b[k * d + j] ?? 0);
      out[i * m + k] = s;
    }
  }
  return out;
}

/**
 * Rank of entry `target` in row `row` of an [n, m] score matrix, counting ties against it
 * (pessimistic): 0 when it is strictly above every other entry. A model that gives every
 * candidate the same score ranks last, never first.
 */
export function rankOf(scores: Float32Array, m: number, row: number, target: number): number {
  const base = row * m;
  const s = scores[base + target] ?? Number.NaN;
  let rank = 0;
  for (let k = 0; k < m; k++) {
    if (k === target) continue;
    const v = scores[base + k] ?? Number.NaN;
    if (!(v < s)) rank++; // greater, equal, or NaN all count against the target
  }
  return rank;
}
