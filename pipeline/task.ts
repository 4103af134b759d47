/**
 * The wire format between the pipeline and its augmentation workers.
 *
 * A task is a small group of samples packed into ONE fresh ArrayBuffer (the member
 * bytes are copied once out of the tar reader's chunks, then the buffer is transferred,
 * not cloned). A result holds the group's image views in one Float32Array and its token
 * rows in one Int32Array, both transferred back.
 *
 * @example
 * ```ts
 * const task = packTask([{ sample, seq: 0, epoch: 0, index: 0 }], { seed: 1 });
 * const result = await pool.run(task, { transferList: [task.data] });
 * ```
 */
import type { Sample } from '../datasets/sample.js';
import type { SlotTarget } from './slots.js';

/** Extensions that can hold a sample's image, in order of preference. */
export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'] as const;

/** One sample of a task, as offsets into {@link AugmentTask.data}. */
export interface TaskSample {
  readonly key: string;
  readonly url: string;
  readonly epoch: number;
  /** Index of the sample within its epoch's stream. */
  readonly index: number;
  /** Image member extension, or '' when the sample has none. */
  readonly imageExt: string;
  readonly imageOffset: number;
  readonly imageLength: number;
  /** Caption byte range; captionLength -1 when the sample has no `txt`. */
  readonly captionOffset: number;
  readonly captionLength: number;
  /** Class label from `cls`, -1 when absent or not an integer. */
  readonly label: number;
}

/** What the main thread sends to an augmentation worker. */
export interface AugmentTask {
  /** Run seed; per-sample, per-view seeds derive from (seed, epoch, key, view). */
  readonly seed: number;
  /** Group sequence number in the stream (results are re-ordered by it). */
  readonly seq: number;
  readonly samples: readonly TaskSample[];
  /** All member bytes of the group. Transferred. */
  readonly data: ArrayBuffer;
  /**
   * Where to write each sample's two views (shared batch buffers, pipeline/slots.ts); the
   * worker then returns an empty `images`. Absent: the views come back in `images`.
   */
  readonly targets?: readonly SlotTarget[] | undefined;
}

/** Why one sample of a task failed (errors do not survive structured clone). */
export interface TaskFailure {
  readonly reason: string;
  readonly message: string;
  readonly code: string;
}

/** What a worker sends back: row i of each array belongs to samples[i]. */
export interface AugmentResult {
  readonly seq: number;
  /** [n, 2, S, S, 3]: view 1 then view 2 of each sample. Transferred. Empty when the task had `targets`. */
  readonly images: Float32Array;
  /** [n, 4L + 2]: tokens, tokensEda, tokensMasked, mlmLabels (L each), eot, eotEda. Transferred. */
  readonly ints: Int32Array;
  /** null for a sample that succeeded. */
  readonly failures: readonly (TaskFailure | null)[];
}

/** Ints per sample row in {@link AugmentResult.ints}. */
export function intsPerSample(contextLength: number): number {
  return 4 * contextLength + 2;
}

/** A sample drawn from the source, with its place in the deterministic stream. */
export interface SourceItem {
  readonly sample: Sample;
  readonly epoch: number;
  /** Index of the sample within its epoch's stream (0-based). */
  readonly index: number;
}

function parseLabel(bytes: Buffer | undefined): number {
  if (bytes === undefined) return -1;
  const text = bytes.toString('latin1').trim();
  return /^-?\d+$/.test(text) ? Number.parseInt(text, 10) : -1;
}

/**
 * Pick the sample's image member: the first of jpg/jpeg/png/webp present.
 *
 * @example
 * ```ts
 * imageMember({ __key__: 'a', __url__: 's.tar', files: { png: p, jpg: j } }); // { ext: 'jpg', bytes: j }
 * ```
 */
export function imageMember(sample: Sample): { ext: string; bytes: Buffer } | undefined {
  for (const ext of IMAGE_EXTENSIONS) {
    const bytes = sample.files[ext];
    if (bytes !== undefined) return { ext, bytes };
  }
  return undefined;
}

/** Pack a group of samples into one task with one transferable buffer (see the module example). */
export function packTask(items: readonly SourceItem[], seq: number, seed: number, targets?: readonly SlotTarget[]): AugmentTask {
  let total = 0;
  for (const { sample } of items) {
    total += imageMember(sample)?.bytes.length ?? 0;
    total += sample.files['txt']?.length ?? 0;
  }
  const data = new ArrayBuffer(total);
  const view = new Uint8Array(data);
  let at = 0;
  const samples: TaskSample[] = items.map(({ sample, epoch, index }) => {
    const image = imageMember(sample);
    const imageOffset = at;
    if (image !== undefined) {
      view.set(image.bytes, at);
      at += image.bytes.length;
    }
    const caption = sample.files['txt'];
    const captionOffset = at;
    if (caption !== undefined) {
      view.set(caption, at);
      at += caption.length;
    }
    return {
      key: sample.__key__,
      url: sample.__url__,
      epoch,
      index,
      imageExt: image?.ext ?? '',
      imageOffset,
      imageLength: image?.bytes.length ?? 0,
      captionOffset,
      captionLength: caption === undefined ? -1 : caption.length,
      label: parseLabel(sample.files['cls']),
    };
  });
  return targets === undefined ? { seed, seq, samples, data } : { seed, seq, samples, data, targets };
}
