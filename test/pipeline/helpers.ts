/** Shared fixtures of the pipeline tests. */
import { fileURLToPath } from 'node:url';
import type { Sample } from '../../datasets/sample.js';
import type { OpenEpoch } from '../../pipeline/operators/source.js';
import type { DeclipBatch } from '../../pipeline/types.js';

export const STAND_IN_WORKER = fileURLToPath(new URL('./fixtures/stand-in-worker.ts', import.meta.url));

export interface FakeSourceOptions {
  readonly count: number;
  /** Key -> how that sample is broken. */
  readonly bad?: Readonly<Record<number, 'no-image' | 'no-caption' | 'not-utf8' | 'corrupt'>>;
  /** Bytes of each fake image member (default 64). */
  readonly imageBytes?: number;
}

/** Samples made on demand; `read` counts what the pipeline pulled. The order depends on the epoch. */
export function fakeSource(options: FakeSourceOptions): { open: OpenEpoch; read: () => number; openCount: () => number } {
  let read = 0;
  let opened = 0;
  const open: OpenEpoch = (epoch, signal) => {
    opened++;
    return (async function* (): AsyncGenerator<Sample> {
      for (let j = 0; j < options.count; j++) {
        if (signal.aborted) return;
        // a fixed per-epoch permutation (rotation) so epochs differ
        const i = (j + epoch * 7) % options.count;
        const key = `s${String(i).padStart(6, '0')}`;
        const files: Record<string, Buffer> = {};
        const flaw = options.bad?.[i];
        if (flaw !== 'no-image') files['jpg'] = Buffer.alloc(options.imageBytes ?? 64, i % 251);
        if (flaw === 'not-utf8') files['txt'] = Buffer.from([0xff, 0xfe, 0x41]);
        else if (flaw === 'corrupt') files['txt'] = Buffer.from('corrupt');
        else if (flaw !== 'no-caption') files['txt'] = Buffer.from(`caption number ${i}`);
        if (i % 3 === 0) files['cls'] = Buffer.from(String(i % 10));
        read++;
        yield { __key__: key, __url__: `mem://shard-${Math.floor(i / 100)}.tar`, files };
      }
    })();
  };
  return { open, read: () => read, openCount: () => opened };
}

/** Everything in a batch as plain arrays (for deep equality). */
export function batchFingerprint(b: DeclipBatch): unknown {
  return {
    size: b.size,
    keys: b.keys,
    position: b.position,
    images1: Buffer.from(b.images1.buffer, b.images1.byteOffset, b.images1.byteLength).toString('base64'),
    images2: Buffer.from(b.images2.buffer, b.images2.byteOffset, b.images2.byteLength).toString('base64'),
    tokens: Array.from(b.tokens),
    tokensEda: Array.from(b.tokensEda),
    tokensMasked: Array.from(b.tokensMasked),
    mlmLabels: Array.from(b.mlmLabels),
    eot: Array.from(b.eot),
    eotEda: Array.from(b.eotEda),
    labels: Array.from(b.labels),
  };
}
