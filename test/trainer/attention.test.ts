import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { ensureGradients } from '../../trainer/backend/gradients.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { attention, packedSelfAttention } from '../../trainer/models/layers.js';
import { causalMask } from '../../trainer/models/text.js';

await selectBackend({ backend: 'cpu', log: () => {} });
await selectBackend({ backend: 'wasm', log: () => {} });
await ensureGradients();

const rng = new Rng(20261130);
const randn = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

/**
 * Multi-head self-attention written out in float64 loops from the packed projection
 * (columns q | k | v, head h at columns h*d..h*d+d of each block), PyTorch's definition.
 */
function reference(qkv: Float32Array, b: number, l: number, w: number, heads: number, mask?: Float32Array): Float64Array {
  const d = w / heads;
  const out = new Float64Array(b * l * w);
  const at = (bi: number, i: number, block: number, h: number, j: number): number =>
    qkv[(bi * l + i) * 3 * w + block * w + h * d + j] as number;
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < l; i++) {
        const s = new Float64Array(l);
        let max = -Infinity;
        for (let j = 0; j < l; j++) {
          let dot = 0;
          for (let e = 0; e < d; e++) dot += at(bi, i, 0, h, e) * at(bi, j, 1, h, e);
          s[j] = dot / Math.sqrt(d) + (mask === undefined ? 0 : (mask[i * l + j] as number));
          max = Math.max(max, s[j] as number);
        }
        let z = 0;
        for (let j = 0; j < l; j++) {
          s[j] = Math.exp((s[j] as number) - max);
          z += s[j] as number;
        }
        for (let e = 0; e < d; e++) {
          let acc = 0;
          for (let j = 0; j < l; j++) acc += ((s[j] as number) / z) * at(bi, j, 2, h, e);
          out[(bi * l + i) * w + h * d + e] = acc;
        }
      }
    }
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** qkv with its q block pre-scaled by 1/sqrt(d), as residualBlock feeds it. */
function prescaled(qkv: tf.Tensor2D, w: number, heads: number): tf.Tensor2D {
  const [q, kv] = tf.split(qkv, [w, 2 * w], 1) as [tf.Tensor2D, tf.Tensor2D];
  return tf.concat([tf.mul(q, 1 / Math.sqrt(w / heads)), kv], 1) as tf.Tensor2D;
}

for (const backend of ['cpu', 'wasm'] as const) {
  t.test(`${backend}: packed self-attention equals the per-head definition and attention(), forward and backward`, async (tt) => {
    await tf.setBackend(backend);
    for (const [b, l, w, heads, masked] of [
      [2, 5, 8, 2, true],
      [3, 4, 12, 3, false],
      [1, 7, 8, 1, true],
    ] as const) {
      const label = `B ${b} L ${l} w ${w} heads ${heads}${masked ? ' causal' : ''}`;
      const values = randn(b * l * 3 * w);
      const maskValues = masked ? (causalMask(l).dataSync() as Float32Array) : undefined;
      const expected = reference(values, b, l, w, heads, maskValues);
      const upstream = randn(b * l * w);
      const [packed, unpacked, gPacked, gUnpacked] = tf.tidy(() => {
        const qkv = tf.tensor2d(values, [b * l, 3 * w]);
        const dy = tf.tensor2d(upstream, [b * l, w]);
        const mask = masked ? causalMask(l) : undefined;
        const viaPacked = (x: tf.Tensor2D): tf.Tensor2D => packedSelfAttention(prescaled(x, w, heads), b, l, heads, mask);
        const viaSplit = (x: tf.Tensor2D): tf.Tensor2D => {
          const [q, k, v] = tf.split(x, 3, 1).map((p) => tf.reshape(p, [b, l, w]) as tf.Tensor3D) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
          return tf.reshape(attention(q, k, v, heads, mask), [b * l, w]);
        };
        const loss = (f: (x: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor): tf.Scalar => tf.sum(tf.mul(f(x as tf.Tensor2D), dy));
        return [viaPacked(qkv), viaSplit(qkv), tf.grad(loss(viaPacked))(qkv), tf.grad(loss(viaSplit))(qkv)];
      });
      tt.same(packed.shape, [b * l, w], `${label}: shape`);
      const p = packed.dataSync();
      tt.ok(maxAbsDiff(p, expected) < 1e-5, `${label}: packed matches the float64 definition (${maxAbsDiff(p, expected).toExponential(2)})`);
      tt.ok(maxAbsDiff(unpacked.dataSync(), expected) < 1e-5, `${label}: attention() matches the float64 definition`);
      const gd = maxAbsDiff(gPacked.dataSync(), gUnpacked.dataSync());
      tt.ok(gd < 1e-5, `${label}: gradients wrt qkv agree (${gd.toExponential(2)})`);
      tf.dispose([packed, unpacked, gPacked, gUnpacked]);
    }
  });
}
