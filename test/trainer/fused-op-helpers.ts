import * as tf from '@tensorflow/tfjs-core';

/**
 * Values of `op(x)` and the gradient of `sum(op(x) * w)` on the active backend: with a
 * random `w` as the upstream gradient, the fused kernel's backward sees a non-trivial dy.
 */
export function valueAndGradient(
  op: (x: tf.Tensor) => tf.Tensor,
  x: Float32Array,
  w: Float32Array,
  shape: number[],
): { y: Float32Array; g: Float32Array } {
  return tf.tidy(() => {
    const xt = tf.tensor(x, shape);
    const wt = tf.tensor(w, shape);
    const y = op(xt);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(op(v), wt)))(xt);
    return { y: y.dataSync() as Float32Array, g: g.dataSync() as Float32Array };
  });
}
