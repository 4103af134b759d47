import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../trainer/backend/select.js';
import { Rng } from '../core/rng.js';

const backend = (process.argv[2] ?? 'wasm') as 'wasm' | 'cpu';
const B = Number(process.argv[3] ?? 64);
const steps = Number(process.argv[4] ?? 3);
await selectBackend({ backend });
const rng = new Rng(1);
const W = 128, H = 4, V = 4100, L = 24, S = 32, P = 8;
const vars: tf.Variable[] = [];
function param(shape: number[], std = 0.02): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n); for (let i = 0; i < n; i++) d[i] = rng.normal() * std;
  const v = tf.variable(tf.tensor(d, shape)); vars.push(v); return v;
}
function ln(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
}
function gelu(x: tf.Tensor): tf.Tensor { return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))); }
function dense(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor { const y = tf.matMul(x, w); return b ? tf.add(y, b) : y; }
function mkBlock() { return { g1: tf.add(param([W], 0), 1), b1: param([W], 0), qkv: param([W, 3 * W]), qb: param([3 * W], 0), o: param([W, W]), ob: param([W], 0), g2: tf.add(param([W], 0), 1), b2: param([W], 0), f1: param([W, 4 * W]), fb1: param([4 * W], 0), f2: param([4 * W, W]), fb2: param([W], 0) }; }
function block(x: tf.Tensor, p: ReturnType<typeof mkBlock>, T: number, mask?: tf.Tensor): tf.Tensor {
  const b = x.shape[0] as number;
  const y = tf.reshape(ln(x, p.g1, p.b1), [b * T, W]);
  const qkv = tf.transpose(tf.reshape(dense(y, p.qkv, p.qb), [b, T, 3, H, W / H]), [2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(qkv).map((t) => tf.reshape(t, [b * H, T, W / H]));
  let s = tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(W / H));
  if (mask) s = tf.add(s, mask);
  const a = tf.reshape(tf.transpose(tf.reshape(tf.matMul(tf.softmax(s), v!), [b, H, T, W / H]), [0, 2, 1, 3]), [b * T, W]);
  x = tf.add(x, tf.reshape(dense(a, p.o, p.ob), [b, T, W]));
  const h = dense(gelu(dense(tf.reshape(ln(x, p.g2, p.b2), [b * T, W]), p.f1, p.fb1)), p.f2, p.fb2);
  return tf.add(x, tf.reshape(h, [b, T, W]));
}
const conv = param([P, P, 3, W]); const cls = param([W]); const vpos = param([17, W]); const vblocks = [mkBlock(), mkBlock()]; const vproj = param([W, 128]);
const tok = param([V, W]); const tpos = param([L, W]); const tblocks = [mkBlock(), mkBlock()]; const tproj = param([W, 128]); const mlmW = param([W, V]); const mlmB = param([V], 0);
const bnG = tf.add(param([256], 0), 1); const bnB = param([256], 0);
const pj1 = param([128, 256]); const pj2 = param([256, 256]);
const maskArr = new Float32Array(L * L); for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) maskArr[i * L + j] = -1e9;
const causal = tf.tensor(maskArr, [L, L]);
function visual(img: tf.Tensor4D): tf.Tensor {
  const b = img.shape[0];
  let x: tf.Tensor = tf.reshape(tf.conv2d(img, conv as tf.Tensor4D, P, 'valid'), [b, 16, W]);
  x = tf.add(tf.concat([tf.broadcastTo(tf.reshape(cls, [1, 1, W]), [b, 1, W]), x], 1), vpos);
  for (const p of vblocks) x = block(x, p, 17);
  return tf.matMul(tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, W]), [b, W]), vproj);
}
function text(ids: tf.Tensor2D, eot: tf.Tensor1D): [tf.Tensor, tf.Tensor] {
  const b = ids.shape[0];
  let x: tf.Tensor = tf.add(tf.reshape(tf.gather(tok, tf.reshape(ids, [-1])), [b, L, W]), tpos);
  for (const p of tblocks) x = block(x, p, L, causal);
  const flat = tf.reshape(x, [b * L, W]);
  const rows = tf.add(tf.mul(tf.range(0, b, 1, 'int32'), tf.scalar(L, 'int32')), eot);
  return [tf.matMul(tf.gather(flat, rows), tproj), flat];
}
function bn(x: tf.Tensor): tf.Tensor { const { mean, variance } = tf.moments(x, 0, false); return tf.batchNorm(x, mean, variance, bnB, bnG, 1e-5); }
function norm(x: tf.Tensor): tf.Tensor { return tf.div(x, tf.norm(x, 2, 1, true)); }
function xent(y: tf.Tensor, l: tf.Tensor): tf.Tensor { return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(l)), -1))); }
function clip(a: tf.Tensor, b: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const l = tf.mul(tf.matMul(a, b, false, true), 14.3);
  return tf.div(tf.add(xent(labels, l), xent(labels, tf.transpose(l))), 2) as tf.Scalar;
}
function makeBatch() {
  const n = B * S * S * 3; const i1 = new Float32Array(n), i2 = new Float32Array(n); for (let i = 0; i < n; i++) { i1[i] = rng.normal(); i2[i] = rng.normal(); }
  const ids = new Int32Array(B * L), ida = new Int32Array(B * L), eot = new Int32Array(B); const sel: number[] = []; const lab: number[] = [];
  for (let i = 0; i < B * L; i++) { ids[i] = 4 + rng.int(V - 4); ida[i] = 4 + rng.int(V - 4); if (rng.next() < 0.15) { sel.push(i); lab.push(ids[i]!); } }
  for (let i = 0; i < B; i++) eot[i] = 4 + rng.int(L - 4);
  return { i1: tf.tensor4d(i1, [B, S, S, 3]), i2: tf.tensor4d(i2, [B, S, S, 3]), ids: tf.tensor2d(ids, [B, L], 'int32'), ida: tf.tensor2d(ida, [B, L], 'int32'), eot: tf.tensor1d(eot, 'int32'), sel: tf.tensor1d(sel, 'int32'), lab: tf.oneHot(tf.tensor1d(lab, 'int32'), V) };
}
const times: number[] = [];
for (let s = 0; s < steps; s++) {
  const d = makeBatch();
  const labels = tf.eye(B);
  const t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => {
    const f1 = visual(d.i1), f2 = visual(d.i2);
    const [t, flat] = text(d.ids, d.eot); const [ta] = text(d.ida, d.eot);
    const z1 = bn(tf.matMul(tf.relu(bn(tf.matMul(f1, pj1))), pj2)), z2 = bn(tf.matMul(tf.relu(bn(tf.matMul(f2, pj1))), pj2));
    const ss = tf.div(tf.neg(tf.sum(tf.mul(norm(z1), norm(z2)))), B);
    const c = tf.add(clip(norm(f1), norm(t), labels), clip(norm(f2), norm(ta), labels));
    const logits = dense(tf.gather(flat, d.sel), mlmW, mlmB);
    const mlm = xent(d.lab, logits);
    return tf.addN([c, ss, mlm]) as tf.Scalar;
  });
  tf.tidy(() => { for (const v of vars) { const g = grads[v.name]; if (g) v.assign(tf.sub(v, tf.mul(g, 1e-3))); } });
  const loss = value.dataSync()[0];
  times.push(performance.now() - t0);
  console.log(`step ${s} loss ${loss} ms ${times[times.length - 1]!.toFixed(0)} tensors ${tf.memory().numTensors}`);
  tf.dispose([value, ...Object.values(grads), ...Object.values(d), labels]);
}
if (process.env.PROFILE) {
  const d = makeBatch(); const labels = tf.eye(B);
  const prof = await tf.profile(() => { const { value, grads } = tf.variableGrads(() => { const f1 = visual(d.i1); const [t, flat] = text(d.ids, d.eot); const logits = dense(tf.gather(flat, d.sel), mlmW, mlmB); return tf.add(clip(norm(f1), norm(t), labels), xent(d.lab, logits)) as tf.Scalar; }); value.dataSync(); tf.dispose([value, ...Object.values(grads)]); });
  const by = new Map<string, number>();
  for (const k of prof.kernels) { const key = process.env.PROFILE === 'shapes' ? `${k.name} ${k.inputShapes.map((s) => JSON.stringify(s)).join(' ')}` : k.name; by.set(key, (by.get(key) ?? 0) + (k.kernelTimeMs as number)); }
  console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('\n'));
}
