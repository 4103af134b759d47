import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../trainer/backend/select.js';
await selectBackend({ backend: 'wasm' });
const time = (name: string, f: () => unknown): void => {
  for (let i = 0; i < 3; i++) tf.tidy(f);
  const c0 = process.cpuUsage(); const reps = 30;
  for (let i = 0; i < reps; i++) tf.tidy(f);
  console.log(name.padEnd(40), (process.cpuUsage(c0).user / 1e3 / reps).toFixed(2), 'cpu ms');
};
const a = tf.randomNormal([1536, 512]);
time('2d [1536,512]', () => tf.transpose(a));
const b = tf.randomNormal([256, 8, 4, 24]);
time('4d [256,8,4,24] 0213', () => tf.transpose(b, [0, 2, 1, 3]));
const c = tf.randomNormal([1536, 12, 32]);
time('3d [1536,12,32] 102', () => tf.transpose(c, [1, 0, 2]));
const d = tf.randomNormal([64, 4, 8, 4, 8, 3]);
time('6d patchify', () => tf.transpose(d, [0, 1, 3, 2, 4, 5]));
time('copy (add 0) [1536,512]', () => tf.add(a, 0));
