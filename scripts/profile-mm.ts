/**
 * Matmul throughput on the active backend, by CPU time (robust on a loaded machine):
 * `npx tsx scripts/profile-mm.ts [wasm|cpu] [original]` (`original`: the wasm backend's
 * own BatchMatMul instead of the toolkit's).
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../trainer/backend/select.js';

const backendArg = process.argv[2] === 'cpu' ? 'cpu' : 'wasm';
await selectBackend({ backend: backendArg });

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function bench(name: string, a: number[], b: number[], tA: boolean, tB: boolean): void {
  const x = tf.randomNormal(a);
  const y = tf.randomNormal(b);
  const warm = tf.matMul(x, y, tA, tB);
  warm.dataSync();
  warm.dispose();
  const t0 = cpuMs();
  let n = 0;
  while (cpuMs() - t0 < 400) {
    const z = tf.matMul(x, y, tA, tB);
    z.dataSync();
    z.dispose();
    n++;
  }
  const ms = (cpuMs() - t0) / n;
  const r = a.length;
  const m = tA ? (a[r - 1] as number) : (a[r - 2] as number);
  const k = tA ? (a[r - 2] as number) : (a[r - 1] as number);
  const nn = tB ? (b[b.length - 2] as number) : (b[b.length - 1] as number);
  const batch = r === 3 ? (a[0] as number) : 1;
  console.log(`${name.padEnd(34)} ${ms.toFixed(2).padStart(8)} cpu-ms ${((2 * batch * m * k * nn) / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`);
  tf.dispose([x, y]);
}

bench('2d plain 1536x128 @ 128x512', [1536, 128], [128, 512], false, false);
bench('2d tB    1536x512 @ (128x512)^T', [1536, 512], [128, 512], false, true);
bench('2d tA    (1536x128)^T @ 1536x512', [1536, 128], [1536, 512], true, false);
bench('attn q k^T  256x(24x32 @ 32x24)', [256, 24, 32], [256, 24, 32], false, true);
bench('attn p v    256x(24x24 @ 24x32)', [256, 24, 24], [256, 24, 32], false, false);
bench('attn tA     256x(24x24^T @ 24x32)', [256, 24, 24], [256, 24, 32], true, false);
