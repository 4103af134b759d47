/**
 * Checkpoint files as untrusted input (issue 11): safetensors names and metadata cannot
 * reach Object.prototype, unknown header fields are refused, and `state.json` is read
 * through a schema whose errors name the field.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CheckpointError } from '../../core/errors.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from '../../trainer/checkpoint/checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../../trainer/checkpoint/safetensors.js';
import { parseCheckpointState } from '../../trainer/checkpoint/state.js';

/** Safetensors bytes with a hand-written header (what a crafted file would hold). */
function rawSafetensors(header: Record<string, unknown>, data: Buffer): Buffer {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([prefix, Buffer.from(json), data]);
}

t.test('a "__proto__" tensor or metadata name is an ordinary key of a null-prototype record', async (t) => {
  // JSON.stringify writes an own "__proto__" key when it is defined as a property.
  const header: Record<string, unknown> = {};
  Object.defineProperty(header, '__proto__', { value: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, enumerable: true });
  header['__metadata__'] = JSON.parse('{"__proto__": "x", "step": "1"}') as unknown;
  const bytes = rawSafetensors(header, Buffer.from(new Float32Array([7]).buffer));
  const { tensors, metadata } = decodeSafetensors(bytes, 'crafted.safetensors');
  t.equal(Object.getPrototypeOf(tensors), null);
  t.equal(Object.getPrototypeOf(metadata), null);
  t.same(Object.keys(tensors), ['__proto__']);
  t.equal(tensors['__proto__']?.data[0], 7, 'stored as data, not as a prototype');
  t.equal(metadata['__proto__'], 'x');
  t.equal(({} as Record<string, unknown>)['dtype'], undefined, 'Object.prototype untouched');
});

t.test('unknown fields in a tensor entry are refused', async (t) => {
  const bytes = rawSafetensors({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 } }, Buffer.alloc(4));
  t.throws(() => decodeSafetensors(bytes, 'x.safetensors'), { name: 'CheckpointError', message: /tensor w: unknown header field\(s\) extra/ });
  t.ok(decodeSafetensors(encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } })).tensors['w']);
});

const goodState: CheckpointState = {
  format: 'declip-ts-checkpoint/1',
  step: 3,
  position: { epoch: 0, samplesConsumed: 12, batchesConsumed: 3 },
  skippedBatches: [],
  config: { batch: 4 },
  createdAt: '2026-01-01T00:00:00.000Z',
  extra: { nonFinite: 0 },
};

t.test('state.json is validated: each error names the field', async (t) => {
  t.same(parseCheckpointState(JSON.stringify(goodState), 'ck'), goodState);
  const bad = (over: Record<string, unknown>): string => JSON.stringify({ ...goodState, ...over });
  t.throws(() => parseCheckpointState(bad({ step: -1 }), 'ck'), { name: 'CheckpointError', message: /malformed at step/ });
  t.throws(() => parseCheckpointState(bad({ step: '3' }), 'ck'), { message: /malformed at step/ });
  t.throws(() => parseCheckpointState(bad({ position: { epoch: 0, samplesConsumed: 1.5, batchesConsumed: 0 } }), 'ck'), { message: /malformed at position\.samplesConsumed/ });
  t.throws(() => parseCheckpointState(bad({ skippedBatches: ['x'] }), 'ck'), { message: /malformed at skippedBatches\.0/ });
  t.throws(() => parseCheckpointState(bad({ format: 'other' }), 'ck'), { message: /unknown checkpoint format other/ });
  t.throws(() => parseCheckpointState('{"format": ', 'ck'), { message: /state\.json is not JSON/ });
  t.throws(() => parseCheckpointState(bad({ extra: JSON.parse('{"__proto__": {"polluted": true}}') as unknown }), 'ck'), { message: /__proto__/ });
  t.throws(() => parseCheckpointState('{"format":"declip-ts-checkpoint/1","__proto__":{"step":1}}', 'ck'), { message: /"__proto__" key/ });
});

t.test('loadCheckpoint reads state.json through the schema', async (t) => {
  const run = t.testdir();
  const dir = await saveCheckpoint(run, { state: goodState, weights: { w: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } } });
  t.equal((await loadCheckpoint(run)).state.step, 3);
  await writeFile(join(dir, 'state.json'), JSON.stringify({ ...goodState, position: { epoch: 'zero' } }));
  const err = await loadCheckpoint(run).catch((e: unknown) => e);
  t.ok(err instanceof CheckpointError);
  t.match(err, { message: /state\.json is malformed at position\.epoch/ });
});
