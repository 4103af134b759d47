import t from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type StoredTensors } from '../../trainer/checkpoint/safetensors.js';
import {
  CHECKPOINT_FORMAT,
  checkpointName,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  resolveCheckpointDir,
  saveCheckpoint,
  type CheckpointData,
} from '../../trainer/checkpoint/checkpoint.js';
import { CheckpointError } from '../../core/errors.js';

const tensors: StoredTensors = {
  'visual.proj': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-8, -0]) },
  'a.bias': { dtype: 'F32', shape: [3], data: new Float32Array([0.25, 0.5, 0.75]) },
  'queue.ptr': { dtype: 'I32', shape: [], data: new Int32Array([7]) },
};

/** An independent reader written from the format description, sharing no code with the library. */
function independentRead(bytes: Buffer): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer; metadata: unknown } {
  const n = Number(bytes.readBigUInt64LE(0));
  const raw = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const { __metadata__: metadata, ...header } = raw;
  return { header: header as never, data: bytes.subarray(8 + n), metadata };
}

t.test('safetensors bytes follow the published layout', async (t) => {
  const bytes = encodeSafetensors(tensors, { step: '12', note: 'x' });
  const n = Number(bytes.readBigUInt64LE(0));
  t.equal((8 + n) % 8, 0, 'data starts 8-byte aligned');
  const { header, data, metadata } = independentRead(bytes);
  t.same(metadata, { step: '12', note: 'x' });
  t.same(Object.keys(header).sort(), ['a.bias', 'queue.ptr', 'visual.proj']);
  const proj = header['visual.proj'];
  t.equal(proj?.dtype, 'F32');
  t.same(proj?.shape, [2, 3]);
  const [b, e] = proj?.data_offsets ?? [0, 0];
  t.equal(e - b, 24);
  const values = Array.from({ length: 6 }, (_, i) => data.readFloatLE(b + 4 * i));
  t.same(values, [1, -2, 3.5, 0, Math.fround(1e-8), -0]);
  const ptr = header['queue.ptr'];
  t.same(ptr?.shape, []);
  t.equal(data.readInt32LE(ptr?.data_offsets[0] ?? -1), 7);
  const ends = Object.values(header).map((h) => h.data_offsets[1]);
  t.equal(Math.max(...ends), data.length, 'no trailing bytes');
});

t.test('decode(encode(x)) is identical', async (t) => {
  const { tensors: back, metadata } = decodeSafetensors(encodeSafetensors(tensors, { a: 'b' }));
  t.same(metadata, { a: 'b' });
  for (const [name, v] of Object.entries(tensors)) {
    t.equal(back[name]?.dtype, v.dtype, name);
    t.same(back[name]?.shape, v.shape, name);
    t.same(Array.from(back[name]?.data ?? []), Array.from(v.data), name);
    t.equal(back[name]?.data.constructor, v.data.constructor, name);
  }
  const empty = decodeSafetensors(encodeSafetensors({}));
  t.same(empty, { tensors: {}, metadata: {} });
});

t.test('decoding rejects malformed files with CheckpointError', async (t) => {
  const good = encodeSafetensors(tensors);
  t.throws(() => decodeSafetensors(good.subarray(0, 4), 'f'), CheckpointError);
  t.throws(() => decodeSafetensors(good.subarray(0, good.length - 4), 'f'), /outside the data|trailing|contiguous/);
  const badLen = Buffer.from(good);
  badLen.writeBigUInt64LE(10n ** 12n);
  t.throws(() => decodeSafetensors(badLen, 'f'), /exceeds the file/);
  const badJson = Buffer.from(good);
  badJson.write('!', 8);
  t.throws(() => decodeSafetensors(badJson, 'f'), /not valid JSON/);
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F16', shape: [1], data_offsets: [0, 2] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  t.throws(() => decodeSafetensors(Buffer.concat([len, header, Buffer.alloc(2)]), 'f'), /unsupported dtype F16/);
  t.throws(() => encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /shape \[3\] but 2 values/);
});

function data(step: number, scale = 1): CheckpointData {
  return {
    state: {
      format: CHECKPOINT_FORMAT,
      step,
      position: { epoch: 0, samplesConsumed: step * 4, batchesConsumed: step },
      skippedBatches: [],
      rng: [1, 2, 3, 4],
      config: { preset: 'tiny' },
      tokenizer: 'tokenizer.json',
      createdAt: new Date(0).toISOString(),
    },
    weights: { w: { dtype: 'F32', shape: [2], data: new Float32Array([step, scale]) } },
    optimizer: { step, moments: { w: { shape: [2], m: new Float32Array([0.1, 0.2]), v: new Float32Array([0.3, 0.4]) } } },
    extra: { 'nns.queue': { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 0, 0, 1]) } },
  };
}

t.test('save/load round-trips every part and keeps the newest N', async (t) => {
  const run = t.testdir();
  for (const step of [0, 5, 10, 15]) await saveCheckpoint(run, data(step), { keep: 2 });
  t.same(await listCheckpoints(run), [checkpointName(10), checkpointName(15)]);
  t.equal(await readFile(join(run, 'checkpoints', 'latest'), 'utf8'), 'step-000015\n');
  const ck = await loadCheckpoint(run);
  t.equal(ck.dir, join(run, 'checkpoints', 'step-000015'));
  t.same(ck.state, data(15).state);
  t.same(Array.from(ck.weights.w?.data ?? []), [15, 1]);
  t.equal(ck.optimizer?.step, 15);
  t.same(Array.from(ck.optimizer?.moments.w?.v ?? []), [Math.fround(0.3), Math.fround(0.4)]);
  t.same(Array.from(ck.extra['nns.queue']?.data ?? []), [1, 0, 0, 1]);
  const explicit = await loadCheckpoint(join(run, 'checkpoints', 'step-000010'));
  t.equal(explicit.state.step, 10);
  const entries = await readdir(join(run, 'checkpoints'));
  t.notOk(entries.some((e) => e.startsWith('.')), 'no temporary folders left');
});

t.test('re-saving a step replaces it; a dangling latest falls back to scanning', async (t) => {
  const run = t.testdir();
  await saveCheckpoint(run, data(3));
  await saveCheckpoint(run, data(3, 9));
  t.same(Array.from((await loadCheckpoint(run)).weights.w?.data ?? []), [3, 9]);
  await writeFile(join(run, 'checkpoints', 'latest'), 'step-000099\n');
  // A crash mid-save leaves only a hidden temp folder, which is ignored.
  await mkdir(join(run, 'checkpoints', '.tmp-step-000004-1'), { recursive: true });
  t.equal(await latestCheckpoint(run), join(run, 'checkpoints', 'step-000003'));
  t.equal(await resolveCheckpointDir(run), join(run, 'checkpoints', 'step-000003'));
});

t.test('missing checkpoints are CheckpointErrors', async (t) => {
  const run = t.testdir({ 'notes.txt': 'x' });
  t.equal(await latestCheckpoint(run), undefined);
  await t.rejects(loadCheckpoint(run), CheckpointError);
  const bad = t.testdir({ 'state.json': '{"format":"other"}' });
  await t.rejects(loadCheckpoint(bad), /unknown checkpoint format/);
});
