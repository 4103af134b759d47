/**
 * One AdamW update: the moments in place, the new parameter into `out` (a new buffer: the
 * backend caches XNNPACK operators with packed weights by tensor id, so a parameter must
 * never change under the same id),
 * four lanes at a time, in the order of the tfjs ops it replaces (trainer/optim/adamw.ts):
 * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p decay - (m / (sqrt(v / bc2) + eps)) stepSize,
 * with stepSize = lr / bc1 and decay = 1 - lr wd (or 1). The host computes the scalars in
 * float64 and they arrive rounded to float32, as tfjs's scalar tensors would: the result
 * is the same float32 arithmetic, operation for operation.
 */
export function adamw(
  p: usize, g: usize, m: usize, v: usize, out: usize, n: i32,
  beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  eps: f32, bc2: f32, stepSize: f32, decay: f32,
): void {
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const e = f32x4.splat(eps);
  const bc = f32x4.splat(bc2);
  const s = f32x4.splat(stepSize);
  const d = f32x4.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gi = v128.load(g + o);
    const mi = f32x4.add(f32x4.mul(v128.load(m + o), b1), f32x4.mul(gi, c1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + o), b2), f32x4.mul(f32x4.mul(gi, gi), c2));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const denom = f32x4.add(f32x4.sqrt(f32x4.div(vi, bc)), e);
    const update = f32x4.mul(f32x4.div(mi, denom), s);
    v128.store(out + o, f32x4.sub(f32x4.mul(v128.load(p + o), d), update));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gi = load<f32>(g + o);
    const mi = load<f32>(m + o) * beta1 + gi * oneMinusBeta1;
    const vi = load<f32>(v + o) * beta2 + gi * gi * oneMinusBeta2;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const denom = Mathf.sqrt(vi / bc2) + eps;
    store<f32>(out + o, load<f32>(p + o) * decay - (mi / denom) * stepSize);
  }
}
