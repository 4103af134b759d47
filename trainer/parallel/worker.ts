/**
 * A compute worker of data-parallel training (started by trainer/parallel/engine.ts): loads
 * the backend in this thread's own tfjs instance, builds a {@link Replica} joined to the
 * shared-memory collectives, then serves the main thread's requests one at a time. A
 * failure raises the shared abort flag (so the peers stop waiting) and is posted back as
 * data; `close` frees the replica and ends the thread.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { DeclipError } from '../../core/errors.js';
import type { DeclipBatch } from '../../pipeline/types.js';
import { selectBackend } from '../backend/select.js';
import type { StoredTensor } from '../checkpoint/safetensors.js';
import { Replica, type ReplicaState } from '../replica.js';
import { Collective, PeerAbortError } from './collective.js';
import type { SliceData, WireError, WorkerInit, WorkerReply, WorkerRequest } from './engine.js';

function wire(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, code: err instanceof DeclipError ? err.code : undefined, peerAbort: err instanceof PeerAbortError };
}

/** SHA-256 over every weight and optimizer moment, in a fixed order. */
function digest(state: ReplicaState): string {
  const hash = createHash('sha256');
  const add = (a: Float32Array | Int32Array | Uint8Array): void => void hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  for (const name of Object.keys(state.weights).sort()) add((state.weights[name] as StoredTensor).data);
  const moments = state.optimizer?.moments ?? {};
  for (const name of Object.keys(moments).sort()) {
    const m = moments[name];
    if (m !== undefined) {
      add(m.m);
      add(m.v);
    }
  }
  hash.update(String(state.optimizer?.step ?? 0));
  if (state.queue !== null) {
    add(state.queue.data);
    hash.update(String(state.queue.pointer));
  }
  return hash.digest('hex');
}

function asBatch(d: SliceData): DeclipBatch {
  return {
    ...d,
    labels: new Int32Array(d.size).fill(-1),
    keys: [],
    position: { epoch: 0, samplesBefore: 0, batchIndex: 0, resumeFrom: { epoch: 0, skipSamples: 0 } },
  };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const init = workerData as WorkerInit;
  const post = (m: WorkerReply): void => port.postMessage(m);
  const collective = new Collective(init.buffers, init.rank, { timeoutMs: init.timeoutMs });
  let replica: Replica;
  try {
    await selectBackend({ backend: init.backend, log: () => undefined });
    replica = new Replica(init.config, collective);
  } catch (err) {
    collective.abort();
    post({ type: 'failed', id: null, error: wire(err) });
    return;
  }
  post({ type: 'ready', parameters: replica.model.params.numParameters() });
  // The replica's steps are asynchronous (they read back with `await t.data()`): requests
  // run one after another, in arrival order.
  let queue: Promise<void> = Promise.resolve();
  const handle = async (m: WorkerRequest): Promise<void> => {
    if (m.type === 'close') {
      replica.dispose();
      port.close();
      return;
    }
    try {
      let value: unknown;
      if (m.type === 'micro') value = await replica.microStep(asBatch(m.batch), m.slice);
      else if (m.type === 'discard') value = replica.discard();
      else if (m.type === 'update') value = await replica.update(m.lr);
      else if (m.type === 'export') value = await replica.exportState();
      else if (m.type === 'digest') value = digest(await replica.exportState());
      else value = replica.importState(m.state, m.source);
      port.postMessage({ type: 'done', id: m.id, value } satisfies WorkerReply);
    } catch (err) {
      if (!(err instanceof PeerAbortError)) collective.abort();
      post({ type: 'failed', id: m.id, error: wire(err) });
    }
  };
  port.on('message', (m: WorkerRequest) => {
    queue = queue.then(() => handle(m));
  });
}

await main();
