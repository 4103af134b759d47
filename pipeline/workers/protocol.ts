/**
 * Worker-side helpers of the task protocol (pipeline/task.ts): reading a sample's bytes
 * out of the task buffer, turning errors into cloneable failures, and returning result
 * buffers by transfer.
 *
 * @example
 * ```ts
 * export function augment(task: AugmentTask) {
 *   const out = allocateResult(task, S, L);
 *   task.samples.forEach((s, i) => { try { ... } catch (err) { out.failures[i] = toFailure(err); } });
 *   return transferResult(out);
 * }
 * ```
 */
import { Piscina } from 'piscina';
import { DeclipError, reasonOf, SampleError, TextError } from '../../core/errors.js';
import type { ViewTarget } from '../../augment/image/views.js';
import { intsPerSample, type AugmentResult, type AugmentTask, type TaskFailure, type TaskSample } from '../task.js';

/** A result under construction: failures are filled per sample. */
export interface ResultDraft {
  readonly seq: number;
  readonly images: Float32Array;
  readonly ints: Int32Array;
  readonly failures: (TaskFailure | null)[];
}

/** Zeroed result buffers for a task's samples (see the module example); no image buffer when the task has shared `targets`. */
export function allocateResult(task: AugmentTask, imageSize: number, contextLength: number): ResultDraft {
  const n = task.samples.length;
  return {
    seq: task.seq,
    images: new Float32Array(task.targets === undefined ? n * 2 * imageSize * imageSize * 3 : 0),
    ints: new Int32Array(n * intsPerSample(contextLength)),
    failures: new Array<TaskFailure | null>(n).fill(null),
  };
}

/** The image member's bytes, or a `missing-image` SampleError. */
export function imageBytes(task: AugmentTask, s: TaskSample): Uint8Array {
  if (s.imageExt === '') throw new SampleError('missing-image', 'sample has no jpg/jpeg/png/webp member', { url: s.url, key: s.key });
  return new Uint8Array(task.data, s.imageOffset, s.imageLength);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The caption as text, or a `missing-caption` / `caption-not-utf8` error. */
export function captionText(task: AugmentTask, s: TaskSample): string {
  if (s.captionLength < 0) throw new SampleError('missing-caption', 'sample has no txt member', { url: s.url, key: s.key });
  try {
    return utf8.decode(new Uint8Array(task.data, s.captionOffset, s.captionLength));
  } catch (err) {
    throw new TextError('caption-not-utf8', `caption is not valid UTF-8 (shard ${s.url}, sample ${s.key})`, { cause: err });
  }
}

/** A cloneable description of why a sample failed. Non-data errors keep reason 'error'. */
export function toFailure(err: unknown): TaskFailure {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof DeclipError ? err.code : 'ERR_DECLIP_SAMPLE';
  return { reason: reasonOf(err), message, code };
}

/**
 * Where sample i's two views go: its shared target (task.targets) or its rows of `images`.
 *
 * @example
 * ```ts
 * const [t1, t2] = viewTargets(task, out, i, 224 * 224 * 3);
 * ```
 */
export function viewTargets(task: AugmentTask, draft: ResultDraft, i: number, pixels: number): [ViewTarget, ViewTarget] {
  const target = task.targets?.[i];
  if (target === undefined) {
    return [
      { out: draft.images, offset: 2 * i * pixels },
      { out: draft.images, offset: (2 * i + 1) * pixels },
    ];
  }
  const out = new Float32Array(target.buffer);
  return [
    { out, offset: target.view1 },
    { out, offset: target.view2 },
  ];
}

/** Return the result with its two buffers transferred, not copied. */
export function transferResult(draft: ResultDraft): AugmentResult {
  const value: AugmentResult = draft;
  const movable = {
    [Piscina.transferableSymbol]: [draft.images.buffer, draft.ints.buffer],
    [Piscina.valueSymbol]: value,
  };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]) as unknown as AugmentResult;
}
