import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../trainer/backend/select.js';
await selectBackend({ backend: 'wasm' });
const time = (name: string, flops: number, f: () => unknown): void => {
  for (let i = 0; i < 3; i++) tf.tidy(f);
  const c0 = process.cpuUsage(); const reps = 20;
  for (let i = 0; i < reps; i++) tf.tidy(f);
  const ms = process.cpuUsage(c0).user / 1e3 / reps;
  console.log(name.padEnd(50), ms.toFixed(2), 'cpu ms', (flops / ms / 1e6).toFixed(1), 'GFLOP/s');
};
for (const [rows, ci, co] of [[1536, 128, 512], [1536, 512, 128], [1536, 128, 384], [1088, 128, 512]]) {
  const x = tf.randomNormal([rows, ci]);
  const dy = tf.randomNormal([rows, co]);
  const fl = 2 * rows * ci * co;
  time(`${rows}x${ci} ^T @ ${rows}x${co} (tA)`, fl, () => tf.matMul(x, dy, true, false));
  time(`  (dy^T @ x)^T`, fl, () => tf.transpose(tf.matMul(dy, x, true, false)));
  for (const chunk of [128, 256, 384, 512]) {
    time(`  chunks of ${chunk}`, fl, () => {
      let acc: tf.Tensor | undefined;
      for (let s = 0; s < rows; s += chunk) {
        const len = Math.min(chunk, rows - s);
        const p = tf.matMul(tf.slice(x, [s, 0], [len, ci]), tf.slice(dy, [s, 0], [len, co]), true, false);
        acc = acc === undefined ? p : tf.add(acc, p);
      }
      return acc;
    });
  }
  time(`  plain same flops ${rows}x${ci} @ ${ci}x${co}`, fl, () => tf.matMul(x, tf.slice(dy, [0, 0], [ci, co])));
}
