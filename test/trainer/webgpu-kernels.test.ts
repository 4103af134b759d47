/**
 * The fused webgpu kernels (trainer/kernels/webgpu/) against the composed tfjs formulas on
 * the cpu backend: forward and every gradient within 2e-3 (relative to the largest
 * reference value), and fewer dispatches than the formula on webgpu. Small shapes: each
 * new kernel shape compiles a shader on lavapipe.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { gelu, layerNorm, logSoftmax } from '../../trainer/kernels/index.js';
import { registerFusedWebGpuKernels, unregisterFusedWebGpuKernels } from '../../trainer/kernels/webgpu/index.js';
import { countWebGpuDispatches } from '../../trainer/kernels/webgpu/program.js';
import { AdamW } from '../../trainer/optim/adamw.js';
import { globalNormSquared } from '../../trainer/optim/clip.js';
import { useWebGpu } from './webgpu-fixtures.js';

const quiet = { log: () => undefined };

function random(seed: number, n: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** max |a - b| / max |b|: the error relative to the reference's scale. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

interface Case {
  readonly name: string;
  readonly shape: number[];
  /** The op of x (and the [width] gain and bias where it takes them). */
  readonly op: (x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor) => tf.Tensor;
  /** Whether the op takes gain and bias (their gradients are checked too). */
  readonly params: boolean;
  /** Fused dispatches of the forward and of the backward. */
  readonly dispatches: readonly [number, number];
}

const cases: Case[] = [
  { name: 'GELU', shape: [6, 37], op: (x) => gelu(x), params: false, dispatches: [1, 1] },
  { name: 'log-softmax (a row wider than a workgroup)', shape: [5, 150], op: (x) => logSoftmax(x), params: false, dispatches: [1, 1] },
  { name: 'log-softmax (narrow rows, rank 3)', shape: [2, 3, 7], op: (x) => logSoftmax(x), params: false, dispatches: [1, 1] },
  { name: 'LayerNorm (a row wider than a workgroup)', shape: [2, 3, 80], op: (x, g, b) => layerNorm(x, g, b), params: true, dispatches: [3, 3] },
  { name: 'LayerNorm (narrow rows)', shape: [9, 12], op: (x, g, b) => layerNorm(x, g, b), params: true, dispatches: [3, 3] },
  // More than 64 rows: dgain and dbias sum 64-row chunks, then the chunks.
  { name: 'LayerNorm (150 rows)', shape: [3, 50, 10], op: (x, g, b) => layerNorm(x, g, b), params: true, dispatches: [3, 5] },
];

/** Forward and the gradients of sum(op * dy) for x (and gain and bias where the op takes them), as arrays. */
async function run(c: Case, seed: number): Promise<Float32Array[]> {
  const width = c.shape[c.shape.length - 1] as number;
  const size = c.shape.reduce((a, b) => a * b, 1);
  const outs = tf.tidy(() => {
    const x = tf.tensor(random(seed, size, 3), c.shape);
    const gain = tf.tensor(random(seed + 1, width, 1.5), [width]);
    const bias = tf.tensor(random(seed + 2, width), [width]);
    const dy = tf.tensor(random(seed + 3, size), c.shape);
    const y = c.op(x, gain, bias);
    const grads = c.params
      ? tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(c.op(a, g, b), dy)))([x, gain, bias])
      : [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(c.op(a, gain, bias), dy)))(x)];
    return [y, ...grads];
  });
  const values = await Promise.all(outs.map(async (o) => Float32Array.from((await o.data()) as Float32Array)));
  tf.dispose(outs);
  return values;
}

t.test('fused webgpu kernels match the composed formulas on cpu, forward and gradients, in fewer dispatches', async (t) => {
  await selectBackend({ backend: 'cpu', ...quiet });
  const reference: Float32Array[][] = [];
  for (const [i, c] of cases.entries()) reference.push(await run(c, 10 * i));
  if (!(await useWebGpu(t))) return;
  const counter = countWebGpuDispatches();
  t.teardown(() => counter.stop());
  for (const [i, c] of cases.entries()) {
    const ref = reference[i] as Float32Array[];
    counter.reset();
    const gpu = await run(c, 10 * i);
    const fused = counter.byProgram.get('DeclipProgram') ?? 0;
    const names = ['forward', 'd/dx', 'd/dgain', 'd/dbias'];
    for (const [k, r] of ref.entries()) {
      const err = relErr(gpu[k] as Float32Array, r);
      t.ok(err <= 2e-3, `${c.name} ${names[k]}: relative error ${err.toExponential(2)}`);
    }
    // run() computes the forward twice (once alone, once on the gradient tape) and the backward once.
    t.equal(fused, 2 * c.dispatches[0] + c.dispatches[1], `${c.name}: ${c.dispatches[0]} fused dispatches forward, ${c.dispatches[1]} backward`);
    // The same on webgpu without the fused kernels: the composed formula, more dispatches.
    const total = counter.total();
    unregisterFusedWebGpuKernels();
    try {
      counter.reset();
      const composed = await run(c, 10 * i);
      t.equal(counter.byProgram.get('DeclipProgram') ?? 0, 0, 'no fused kernel once unregistered');
      t.ok(counter.total() > total, `${c.name}: ${total} dispatches fused vs ${counter.total()} composed`);
      t.ok(relErr(composed[0] as Float32Array, ref[0] as Float32Array) <= 2e-3, 'the composed forward agrees too');
    } finally {
      registerFusedWebGpuKernels();
    }
  }
});

/** AdamW steps (each masked by `apply` where given, gradients scaled by `scale` where given) of two parameters; their values and moments. */
async function adamwRun(masks: Array<boolean | undefined>, scale?: number): Promise<number[][]> {
  const p1 = tf.variable(tf.tensor(random(1, 300), [20, 15]));
  const p2 = tf.variable(tf.tensor(random(2, 7), [7]));
  const opt = new AdamW([
    { name: 'w', variable: p1, decay: true },
    { name: 'b', variable: p2, decay: false },
  ]);
  try {
    for (const [s, mask] of masks.entries()) {
      const grads = { w: tf.tensor(random(10 + s, 300), [20, 15]), b: tf.tensor(random(20 + s, 7, 5), [7]) };
      const apply = mask === undefined ? undefined : tf.scalar(mask, 'bool');
      const gradScale = scale === undefined ? undefined : tf.scalar(scale);
      opt.step(grads, 1e-2 * (s + 1), apply, gradScale);
      tf.dispose([...Object.values(grads), ...[apply, gradScale].filter((x) => x !== undefined)]);
    }
    const state = await opt.exportState();
    const moments = Object.values(state.moments).flatMap((m) => [Array.from(m.m), Array.from(m.v)]);
    return [Array.from(await p1.data()), Array.from(await p2.data()), ...moments];
  } finally {
    opt.dispose();
    tf.dispose([p1, p2]);
  }
}

t.test('the webgpu AdamW kernel (plain and masked) matches the tfjs ops on cpu, three dispatches per parameter', async (t) => {
  const plans: Array<{ masks: Array<boolean | undefined>; scale?: number }> = [
    { masks: [undefined, undefined] },
    { masks: [true, false] },
    { masks: [true, true], scale: 0.37 },
  ];
  await selectBackend({ backend: 'cpu', ...quiet });
  const reference = [];
  for (const plan of plans) reference.push(await adamwRun(plan.masks, plan.scale));
  if (!(await useWebGpu(t))) return;
  const counter = countWebGpuDispatches();
  t.teardown(() => counter.stop());
  for (const [i, { masks, scale }] of plans.entries()) {
    const plan = [...masks, `scale ${scale ?? 'none'}`];
    counter.reset();
    const gpu = await adamwRun(masks, scale);
    t.equal(counter.byProgram.get('DeclipProgram'), 2 * 2 * 3, `steps ${plan.map(String).join(', ')}: 3 fused dispatches per parameter and step`);
    for (const [k, r] of (reference[i] as number[][]).entries()) {
      const err = relErr(gpu[k] as number[], r);
      t.ok(err <= 2e-3, `steps ${plan.map(String).join(', ')}, tensor ${k}: relative error ${err.toExponential(2)}`);
    }
  }
  // The masked second step left everything as after the first.
  const first = await adamwRun([true]);
  t.same((await adamwRun([true, false])).slice(0, 2), first.slice(0, 2), 'a false mask changes no parameter');
});

t.test('the squared global norm on webgpu: one dispatch per 7 gradients, equal to the tfjs ops on cpu', async (t) => {
  const sizes = [1, 5, 64, 65, 300, 1000, 7, 130, 2, 513, 64, 3, 90, 10000, 17, 33, 250]; // 10000: more than one stride of the 4096 invocations
  const make = (): tf.Tensor[] => sizes.map((n, i) => tf.tensor(random(100 + i, n, 2), [n]));
  await selectBackend({ backend: 'cpu', ...quiet });
  const cpuTensors = make();
  const reference = (await globalNormSquared(Object.fromEntries(cpuTensors.map((g, i) => [`g${i}`, g]))).data())[0] as number;
  tf.dispose(cpuTensors);
  if (!(await useWebGpu(t))) return;
  const counter = countWebGpuDispatches();
  t.teardown(() => counter.stop());
  const tensors = make();
  counter.reset();
  const sq = globalNormSquared(Object.fromEntries(tensors.map((g, i) => [`g${i}`, g])));
  t.equal(counter.byProgram.get('DeclipProgram'), Math.ceil(sizes.length / 7), `${sizes.length} gradients in ${Math.ceil(sizes.length / 7)} dispatches`);
  const value = (await sq.data())[0] as number;
  t.ok(Math.abs(value - reference) / reference <= 2e-3, `${value} vs cpu ${reference}`);
  tf.dispose([...tensors, sq]);
});
