import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { AdamW } from '../../trainer/optim/adamw.js';
import type { OptimParam } from '../../trainer/optim/param.js';

await selectBackend({ backend: 'cpu', log: () => {} });
await selectBackend({ backend: 'wasm', log: () => {} });

const shapes: Array<{ name: string; shape: number[]; decay: boolean }> = [
  { name: 'scalar', shape: [], decay: false },
  { name: 'odd', shape: [7], decay: true },
  { name: 'matrix', shape: [3, 5], decay: true },
  { name: 'wide', shape: [64, 33], decay: false },
];

interface Run {
  params: Float32Array[];
  moments: Array<{ m: Float32Array; v: Float32Array }>;
}

/** Five AdamW steps from the same seed on one backend; returns the parameters and moments. */
async function run(backend: 'cpu' | 'wasm', aliasFirst = false): Promise<Run & { alias?: Float32Array | undefined; before?: Float32Array | undefined }> {
  await tf.setBackend(backend);
  const rng = new Rng(11);
  const params: OptimParam[] = shapes.map((s, i) => ({
    name: s.name,
    // made inside tidy, as the model's parameters are: the variable is its buffer's only owner
    variable: tf.tidy(() => tf.variable(tf.tensor(Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), s.shape), true, `${backend}_${i}_${aliasFirst}`)),
    decay: s.decay,
  }));
  const opt = new AdamW(params, { weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-8 });
  // a tensor sharing the first parameter's buffer: the update must leave it alone
  const alias = aliasFirst ? tf.reshape(params[1]!.variable, [-1]) : undefined;
  const before = alias?.dataSync().slice() as Float32Array | undefined;
  for (let step = 1; step <= 5; step++) {
    const grads: Record<string, tf.Tensor> = {};
    for (const p of params) grads[p.name] = tf.tensor(Float32Array.from({ length: p.variable.size }, () => rng.normal() * 0.1), p.variable.shape);
    opt.step(grads, 1e-2 / step);
    tf.dispose(Object.values(grads));
  }
  const state = await opt.exportState();
  const out = {
    params: params.map((p) => p.variable.dataSync() as Float32Array),
    moments: params.map((p) => ({ m: state.moments[p.name]!.m, v: state.moments[p.name]!.v })),
    ...(alias !== undefined ? { alias: alias.dataSync() as Float32Array, before } : {}),
  };
  alias?.dispose();
  opt.dispose();
  for (const p of params) p.variable.dispose();
  return out;
}

t.test('the fused in-place AdamW on wasm gives the cpu backend\'s tfjs-op result bit for bit', async (tt) => {
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  shapes.forEach((s, i) => {
    tt.same([...wasm.params[i]!], [...cpu.params[i]!], `${s.name}: parameters`);
    tt.same([...wasm.moments[i]!.m], [...cpu.moments[i]!.m], `${s.name}: first moment`);
    tt.same([...wasm.moments[i]!.v], [...cpu.moments[i]!.v], `${s.name}: second moment`);
  });
});

t.test('a tensor sharing a parameter\'s buffer keeps its values', async (tt) => {
  const cpu = await run('cpu');
  const wasm = await run('wasm', true);
  tt.same([...wasm.alias!], [...wasm.before!], 'the sharing tensor keeps its values');
  tt.same([...wasm.params[1]!], [...cpu.params[1]!], 'the parameter is still updated');
});

t.test('on wasm the update runs no tfjs kernels (one fused pass per parameter)', async (tt) => {
  await tf.setBackend('wasm');
  const p: OptimParam = { name: 'w', variable: tf.tidy(() => tf.variable(tf.ones([5, 6]), true, 'fused_probe')), decay: true };
  const opt = new AdamW([p]);
  const g = tf.fill([5, 6], 0.5);
  const info = await tf.profile(() => opt.step({ w: g }, 0.1));
  // moments are created on first use (zerosLike): that is the only kernel activity
  tt.same(info.kernels.map((k) => k.name).filter((n) => n !== 'ZerosLike' && n !== 'Fill'), [], 'no elementwise kernels');
  tt.ok(Math.abs((p.variable.dataSync()[0] as number) - (1 * (1 - 0.1 * 0.1) - 0.1)) < 1e-6, 'first step moves by lr after decay');
  tf.dispose([g]);
  opt.dispose();
  p.variable.dispose();
});

t.test('a product with the updated parameter as its right operand uses the new values (the backend caches packed weights by tensor id)', async (tt) => {
  await tf.setBackend('wasm');
  const rng = new Rng(5);
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
  const x = tf.tensor(rand(6 * 4), [6, 4]);
  const p: OptimParam = { name: 'w', variable: tf.tidy(() => tf.variable(tf.tensor(rand(4 * 3), [4, 3]), true, 'packed_probe')), decay: false };
  const opt = new AdamW([p]);
  for (let step = 0; step < 3; step++) {
    const used = tf.matMul(x, p.variable); // packs w into a cached XNNPACK operator
    const g = tf.tensor(rand(12), [4, 3]);
    opt.step({ w: g }, 0.5);
    const after = tf.matMul(x, p.variable);
    const fresh = tf.tidy(() => tf.matMul(x, tf.tensor(p.variable.dataSync(), [4, 3])));
    const diff = Math.max(...Array.from(after.dataSync(), (v, i) => Math.abs(v - (fresh.dataSync()[i] as number))));
    tt.ok(diff < 1e-5, `step ${step + 1}: x @ w matches the product with w's current values (max diff ${diff})`);
    tf.dispose([used, g, after, fresh]);
  }
  x.dispose();
  opt.dispose();
  p.variable.dispose();
});
