import t, { type Test } from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap } from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng.js';
import { selectBackend } from '../../trainer/backend/select.js';
import { registerWasmKernels, simplifyTranspose, WASM_KERNELS } from '../../trainer/kernels/index.js';

await selectBackend({ backend: 'cpu', log: () => {} });
await selectBackend({ backend: 'wasm', log: () => {} });

interface Input {
  readonly shape: number[];
  readonly data: Float32Array | Int32Array;
}

const rng = new Rng(20261129);

function randn(shape: number[]): Input {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal();
  return { shape, data };
}

function ints(shape: number[], lo: number, hi: number): Input {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + rng.int(hi - lo);
  return { shape, data };
}

/** Run one kernel on a backend from fresh inputs; returns its output values and shape. */
async function run(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, Input>,
  attrs: NamedAttrMap,
): Promise<{ values: Float32Array | Int32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) {
    tensors[k] = tf.tensor(v.data, v.shape, v.data instanceof Int32Array ? 'int32' : 'float32');
  }
  const out = tf.engine().runKernel(kernel, tensors, attrs) as tf.Tensor;
  const values = out.dataSync() as Float32Array | Int32Array;
  const shape = out.shape;
  tf.dispose([out, ...Object.values(tensors)]);
  return { values, shape };
}

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i] as number));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs((a[i] as number) - (b[i] as number)));
  return err / scale;
}

async function same(
  tt: Test,
  kernel: string,
  inputs: Record<string, Input>,
  attrs: NamedAttrMap,
  label: string,
  tol = 1e-4,
): Promise<void> {
  const w = await run('wasm', kernel, inputs, attrs);
  const c = await run('cpu', kernel, inputs, attrs);
  tt.same(w.shape, c.shape, `${label}: shape`);
  const err = maxRelErr(w.values, c.values);
  tt.ok(err <= tol, `${label}: max error ${err.toExponential(2)} relative to max |cpu| <= ${tol}`);
}


t.test('registers every kernel for wasm, idempotently', async (tt) => {
  registerWasmKernels();
  registerWasmKernels();
  for (const k of WASM_KERNELS) tt.ok(tf.getKernel(k, 'wasm'), `${k} is registered`);
});

t.test('Conv2DBackpropFilter and Conv2DBackpropInput match the cpu backend', async (tt) => {
  const cases: {
    x: number[];
    f: number[];
    strides: number | [number, number];
    pad: 'valid' | 'same' | number;
    dataFormat?: 'NHWC' | 'NCHW';
  }[] = [
    { x: [2, 8, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
    { x: [2, 9, 7, 2], f: [3, 2, 2, 5], strides: 2, pad: 'valid' },
    { x: [1, 10, 10, 4], f: [5, 5, 4, 3], strides: [2, 3], pad: 'same' },
    { x: [3, 16, 16, 3], f: [8, 8, 3, 6], strides: 8, pad: 'valid' }, // ViT patch embedding
    { x: [2, 7, 7, 3], f: [3, 3, 3, 2], strides: 1, pad: 2 },
    { x: [2, 3, 8, 8], f: [3, 3, 3, 4], strides: 2, pad: 'same', dataFormat: 'NCHW' },
  ];
  for (const c of cases) {
    const dataFormat = c.dataFormat ?? 'NHWC';
    const xs = c.x as [number, number, number, number];
    const fs = c.f as [number, number, number, number];
    const nhwc: [number, number, number, number] = dataFormat === 'NCHW' ? [xs[0], xs[2], xs[3], xs[1]] : xs;
    const info = tf.backend_util.computeConv2DInfo(nhwc, fs, c.strides, 1, c.pad, undefined, false, 'channelsLast');
    const dyNHWC = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
    const dyShape = dataFormat === 'NCHW' ? [dyNHWC[0], dyNHWC[3], dyNHWC[1], dyNHWC[2]] : dyNHWC;
    const x = randn(c.x);
    const dy = randn(dyShape as number[]);
    const filter = randn(c.f);
    const label = `x ${c.x} filter ${c.f} strides ${String(c.strides)} pad ${c.pad} ${dataFormat}`;
    await same(tt, 'Conv2DBackpropFilter', { x, dy }, { strides: c.strides, pad: c.pad, dataFormat, filterShape: c.f }, `dW ${label}`);
    await same(tt, 'Conv2DBackpropInput', { dy, filter }, { strides: c.strides, pad: c.pad, dataFormat, inputShape: c.x }, `dx ${label}`);
  }
});

t.test('BatchMatMul matches the cpu backend for every transpose and batch layout', async (tt) => {
  const shapes: [number[], number[]][] = [
    [[7, 5], [5, 6]],
    [[4, 3, 5], [4, 5, 2]],
    [[4, 3, 5], [5, 2]],
    [[2, 3, 3, 5], [1, 5, 4]],
    [[1, 6, 9], [1, 9, 3]],
    // attention sizes: n of 32 (blocks of 16 lanes), 17 and 24 (blocks of 4 + scalar tail), k of 17/24/32
    [[8, 24, 32], [8, 32, 24]],
    [[8, 17, 17], [8, 17, 32]],
    [[6, 24, 24], [6, 24, 32]],
    [[3, 5, 7], [3, 7, 21]],
    // a few rows against a wide right operand (computed as a transposed product)
    [[6, 5], [5, 40]],
    [[1, 3, 7], [7, 29]],
    // a single matrix broadcast over the other operand's batch, on either side
    [[1, 5, 7], [3, 7, 21]],
    [[2, 3, 5, 7], [1, 7, 6]],
  ];
  for (const [sa, sb] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const a = ta ? [...sa.slice(0, -2), sa[sa.length - 1] as number, sa[sa.length - 2] as number] : sa;
        const b = tb ? [...sb.slice(0, -2), sb[sb.length - 1] as number, sb[sb.length - 2] as number] : sb;
        await same(tt, 'BatchMatMul', { a: randn(a), b: randn(b) }, { transposeA: ta, transposeB: tb }, `${a} x ${b} tA=${ta} tB=${tb}`);
      }
    }
  }
});

t.test('Sum matches the cpu backend over leading axes (the fast path) and any other axes', async (tt) => {
  const cases: Array<[number[], number | number[], boolean]> = [
    [[1536, 512], 0, false],
    [[64, 256], 0, true],
    [[7, 5], [0], false],
    [[2, 3, 5], [0, 1], false],
    [[2, 3, 5], [1, 0], true],
    [[4, 3, 21], -3, false],
    [[1, 3], 0, false],
    [[0, 5], 0, false],
    [[3, 4], 1, false], // trailing axis: native kernel
    [[2, 3, 4], [0, 2], true], // mixed axes: native kernel
    [[2, 3, 4], [0, 1, 2], false], // every axis: native kernel
  ];
  for (const [shape, axis, keepDims] of cases) {
    await same(tt, 'Sum', { x: randn(shape) }, { axis, keepDims }, `Sum [${shape}] axis ${JSON.stringify(axis)} keepDims ${keepDims}`);
  }
  const ints = { shape: [3, 4], data: Int32Array.from({ length: 12 }, (_, i) => i - 5) };
  await same(tt, 'Sum', { x: ints }, { axis: 0, keepDims: false }, 'int32 input: native kernel', 0);
});

t.test('Transpose matches the cpu backend exactly for ranks 2 to 6', async (tt) => {
  const cases: [number[], number[]][] = [
    [[5, 7], [1, 0]],
    [[64, 3, 4, 8], [1, 0, 2, 3]],
    [[4, 6, 3, 2, 5], [2, 0, 3, 1, 4]],
    [[3, 4, 2, 2, 5], [1, 3, 0, 2, 4]],
    [[2, 1, 3, 4, 1, 5], [5, 3, 2, 0, 1, 4]],
    [[2, 3, 4, 5, 6], [4, 3, 2, 1, 0]],
    // the kernels.wasm paths: 2-D blocks with row/column tails, batched 2-D, runs, strided elements
    [[1536, 512], [1, 0]],
    [[9, 13], [1, 0]],
    [[37, 22], [1, 0]],
    [[3, 7, 6], [0, 2, 1]],
    [[2, 5, 7, 6], [1, 0, 3, 2]],
    [[64, 4, 8, 4, 8, 3], [0, 1, 3, 2, 4, 5]],
    [[24, 12, 32], [1, 0, 2]],
    [[5, 6, 7], [2, 1, 0]],
    [[3, 4, 5, 6], [3, 1, 0, 2]],
  ];
  for (const [shape, perm] of cases) {
    await same(tt, 'Transpose', { x: randn(shape) }, { perm }, `float32 ${shape} perm ${perm}`, 0);
    await same(tt, 'Transpose', { x: ints(shape, -50, 50) }, { perm }, `int32 ${shape} perm ${perm}`, 0);
  }
  tt.same(simplifyTranspose([4, 1, 6, 3], [0, 2, 1, 3]), { shape: [4 * 6 * 3], perm: [0] }, 'size-1 axes drop and runs merge');
});

t.test('Slice, SplitV and Unpack match the cpu backend (contiguous and strided pieces)', async (tt) => {
  const slices: [number[], number[], number[]][] = [
    [[6, 5], [2, 0], [3, 5]],
    [[6, 5], [1, 2], [4, 2]],
    [[3, 4, 5], [1, 1, 0], [2, -1, 5]],
    [[3, 4, 5], [0, 0, 2], [3, 4, 3]],
    [[1, 4, 3, 2, 5], [0, 1, 0, 1, 1], [1, 2, 3, 1, 3]],
    [[4, 3], [0, 0], [4, 3]],
    [[4, 3], [2, 1], [0, 2]],
  ];
  for (const [shape, begin, size] of slices) {
    await same(tt, 'Slice', { x: randn(shape) }, { begin, size }, `float32 ${shape} begin ${begin} size ${size}`, 0);
    await same(tt, 'Slice', { x: ints(shape, -50, 50) }, { begin, size }, `int32 ${shape} begin ${begin} size ${size}`, 0);
  }
  const splits: [number[], number[] | number, number][] = [
    [[3, 8, 4], 3, 0],
    [[5, 12], 3, 1],
    [[5, 12], [2, 7, 3], -1],
    [[2, 6, 3, 2], [1, 5], 1],
  ];
  for (const [shape, numOrSizeSplits, axis] of splits) {
    for (const x of [randn(shape), ints(shape, -9, 9)]) {
      const label = `SplitV ${x.data instanceof Int32Array ? 'int32' : 'float32'} ${shape} ${JSON.stringify(numOrSizeSplits)} axis ${axis}`;
      const outs: tf.Tensor[][] = [];
      for (const backend of ['wasm', 'cpu'] as const) {
        await tf.setBackend(backend);
        const t0 = tf.tensor(x.data, x.shape, x.data instanceof Int32Array ? 'int32' : 'float32');
        outs.push(tf.split(t0, numOrSizeSplits, axis));
        t0.dispose();
      }
      const [w, c] = outs as [tf.Tensor[], tf.Tensor[]];
      tt.equal(w.length, c.length, `${label}: pieces`);
      w.forEach((p, i) => {
        tt.same(p.shape, c[i]?.shape, `${label}: piece ${i} shape`);
        tt.same(Array.from(p.dataSync()), Array.from(c[i]?.dataSync() ?? []), `${label}: piece ${i} values`);
      });
      tf.dispose([...w, ...c]);
    }
  }
  for (const [shape, axis] of [
    [[3, 4, 5], 0],
    [[3, 4, 5], 1],
    [[3, 4, 5], -1],
  ] as const) {
    const x = randn([...shape]);
    const outs: tf.Tensor[][] = [];
    for (const backend of ['wasm', 'cpu'] as const) {
      await tf.setBackend(backend);
      const t0 = tf.tensor(x.data, x.shape);
      outs.push(tf.unstack(t0, axis));
      t0.dispose();
    }
    const [w, c] = outs as [tf.Tensor[], tf.Tensor[]];
    tt.equal(w.length, c.length, `Unpack ${shape} axis ${axis}: pieces`);
    w.forEach((p, i) => {
      tt.same(p.shape, c[i]?.shape, `Unpack ${shape} axis ${axis}: piece ${i} shape`);
      tt.same(Array.from(p.dataSync()), Array.from(c[i]?.dataSync() ?? []), `Unpack ${shape} axis ${axis}: piece ${i} values`);
    });
    tf.dispose([...w, ...c]);
  }
  await tf.setBackend('wasm');
  const bools = tf.tensor([true, false, true, true, false, false], [3, 2], 'bool');
  const piece = tf.slice(bools, [1, 0], [2, 2]);
  tt.same(Array.from(piece.dataSync()), [1, 1, 0, 0], 'bool slice');
  tf.dispose([bools, piece]);
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  tt.throws(() => tf.slice(x, [1, 0], [2, 2]), 'an out-of-range slice throws');
  x.dispose();
});

t.test('GatherV2 matches the cpu backend (axes, batch dims, index shapes, dtypes) and rejects out-of-range indices as it does', async (tt) => {
  const cases: [number[], number[], number, number][] = [
    // x shape, indices shape, axis, batchDims
    [[41, 8], [30], 0, 0],
    [[41, 8], [5, 6], 0, 0],
    [[7, 5, 3], [9], 1, 0],
    [[7, 5, 3], [4], -1, 0],
    [[6], [10], 0, 0],
    [[6, 4], [0], 0, 0],
    [[3, 6, 4], [3, 5], 1, 1],
    [[2, 3, 4, 5], [2, 3, 2], 2, 2],
    [[2, 3, 4], [2, 0], 1, 1],
  ];
  for (const [xShape, iShape, axis, batchDims] of cases) {
    const ax = axis < 0 ? axis + xShape.length : axis;
    const indices = ints(iShape, 0, xShape[ax] as number);
    const label = `x ${xShape} indices ${iShape} axis ${axis} batchDims ${batchDims}`;
    await same(tt, 'GatherV2', { x: randn(xShape), indices }, { axis, batchDims }, `float32 ${label}`, 0);
    await same(tt, 'GatherV2', { x: ints(xShape, -99, 99), indices }, { axis, batchDims }, `int32 ${label}`, 0);
  }
  const messages: string[] = [];
  for (const backend of ['wasm', 'cpu'] as const) {
    await tf.setBackend(backend);
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
    for (const bad of [3, -1]) {
      const ids = tf.tensor1d([0, bad], 'int32');
      try {
        tf.gather(x, ids).dispose();
        messages.push(`${backend}: no error`);
      } catch (err) {
        messages.push(err instanceof Error ? err.message : String(err));
      }
      ids.dispose();
    }
    x.dispose();
  }
  tt.same(messages.slice(0, 2), messages.slice(2), `out-of-range indices: the cpu backend's error (${messages[0]})`);
  tt.match(messages[0], /index value 3 is not in \[0, 2\]/, 'the error names the index');
  await tf.setBackend('wasm');
  const bools = tf.tensor([true, false, false, true], [4], 'bool');
  const picked = tf.gather(bools, tf.tensor1d([3, 1, 3, 0], 'int32'));
  tt.same(Array.from(picked.dataSync()), [1, 0, 1, 1], 'bool params');
  tf.dispose([bools, picked]);
});

t.test('UnsortedSegmentSum matches the cpu backend, dropping out-of-range ids', async (tt) => {
  for (const [xShape, n] of [
    [[20, 6], 7],
    [[15, 2, 3], 4],
    [[9], 3],
  ] as const) {
    const ids = ints([xShape[0]], -1, n + 1);
    await same(tt, 'UnsortedSegmentSum', { x: randn([...xShape]), segmentIds: ids }, { numSegments: n }, `float32 x ${xShape} segments ${n}`);
    await same(tt, 'UnsortedSegmentSum', { x: ints([...xShape], -9, 9), segmentIds: ids }, { numSegments: n }, `int32 x ${xShape}`, 0);
  }
});

t.test('OneHot writes the requested dtype (the native wasm kernel writes int32 bits)', async (tt) => {
  for (const dtype of ['float32', 'int32'] as const) {
    await same(tt, 'OneHot', { indices: ints([3, 4], -1, 6) }, { dtype, depth: 5, onValue: 2, offValue: -1 }, `OneHot ${dtype}`, 0);
  }
});

t.test('Identity shares the data and keeps it alive after the source is disposed', async (tt) => {
  await tf.setBackend('wasm');
  const x = tf.tensor([1, 2, 3, 4], [2, 2]);
  const y = tf.clone(x);
  x.dispose();
  tt.same(Array.from(y.dataSync()), [1, 2, 3, 4]);
  const z = tf.cast(y, 'float32');
  y.dispose();
  tt.same(Array.from(z.dataSync()), [1, 2, 3, 4]);
  z.dispose();
  await same(tt, 'Identity', { x: randn([3, 5]) }, {}, 'Identity', 0);
});

t.test('the gradient of an embedding lookup is the same on wasm and cpu', async (tt) => {
  const table = randn([11, 4]);
  const idx = ints([3, 5], 0, 11);
  const grads: Float32Array[] = [];
  for (const backend of ['wasm', 'cpu'] as const) {
    await tf.setBackend(backend);
    const g = tf.tidy(() => {
      const w = tf.tensor(table.data, table.shape);
      const ids = tf.tensor(idx.data, idx.shape, 'int32');
      return tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.gather(v, ids))))(w);
    });
    grads.push(g.dataSync() as Float32Array);
    g.dispose();
  }
  tt.ok(maxRelErr(grads[0] as Float32Array, grads[1] as Float32Array) < 1e-5, 'gradients agree');
});
