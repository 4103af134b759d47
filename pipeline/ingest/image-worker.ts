/**
 * The ingest worker (one per pool thread): hash the downloaded bytes, then check,
 * decode, resize and encode them (`./image.ts`).
 *
 * @example
 * ```ts
 * // through the pool: piscina.run({ bytes, options }, { name: 'ingestImage', transferList: [bytes.buffer] })
 * ```
 */
import { createHash } from 'node:crypto';
import { processImage, type ImageJobOptions, type ImageOutcome } from './image.js';

/** One image task. */
export interface ImageTask {
  readonly bytes: Uint8Array;
  readonly options: ImageJobOptions;
}

/** The outcome plus the SHA-256 of the downloaded bytes. */
export type ImageTaskResult = ImageOutcome & { readonly sha256: string };

/** The worker entry (named export, as the house style wants). */
export async function ingestImage(task: ImageTask): Promise<ImageTaskResult> {
  const sha256 = createHash('sha256').update(task.bytes).digest('hex');
  const outcome = await processImage(task.bytes, task.options);
  return { ...outcome, sha256 };
}
