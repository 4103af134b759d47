/**
 * Zero-shot classification, as CLIP and DeCLIP evaluate it: each class is described by an
 * ensemble of prompt templates; the class embedding is the mean of the L2-normalised text
 * embeddings of its prompts, renormalised; an image is assigned the class of highest cosine.
 *
 * @example
 * ```ts
 * const prompts = buildPrompts(['cat', 'dog'], DEFAULT_TEMPLATES); // class-major
 * const textEmb = await encodeTexts(prompts);                         // [C*T, d]
 * const classEmb = classEmbeddings(textEmb, 2, DEFAULT_TEMPLATES.length, d);
 * const { top1, top5 } = zeroShotAccuracy(imageEmb, labels, classEmb, d);
 * ```
 */
import { normalizeRows, rankOf, similarity } from './embeddings.js';

/**
 * A short ensemble from CLIP's 80 ImageNet templates (the full list is for ImageNet-size
 * runs; these keep a CPU evaluation quick). `{}` is replaced by the class name.
 */
export const DEFAULT_TEMPLATES: readonly string[] = Object.freeze([
  'a photo of a {}.',
  'a blurry photo of a {}.',
  'a photo of the {}.',
  'a good photo of a {}.',
  'a close-up photo of a {}.',
  'a bright photo of a {}.',
  'a photo of a small {}.',
  'a photo of a large {}.',
  'itap of a {}.',
  'art of the {}.',
]);

/** The prompts of every class with every template, class-major: `[c0t0, c0t1, ..., c1t0, ...]`. */
export function buildPrompts(classNames: readonly string[], templates: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of classNames) for (const tpl of templates) out.push(tpl.includes('{}') ? tpl.replaceAll('{}', name) : `${tpl} ${name}`);
  return out;
}

/**
 * Class embeddings [C, d] from class-major prompt embeddings [C*T, d]: mean over the
 * T templates of the normalised embeddings, renormalised.
 */
export function classEmbeddings(textEmb: Float32Array, numClasses: number, numTemplates: number, d: number): Float32Array {
  if (textEmb.length !== numClasses * numTemplates * d) {
    throw new RangeError(`classEmbeddings: expected ${numClasses}x${numTemplates}x${d} values, got ${textEmb.length}`);
  }
  const unit = normalizeRows(textEmb, d);
  const mean = new Float32Array(numClasses * d);
  for (let c = 0; c < numClasses; c++) {
    for (let tpl = 0; tpl < numTemplates; tpl++) {
      const row = (c * numTemplates + tpl) * d;
      for (let j = 0; j < d; j++) mean[c * d + j] = (mean[c * d + j] ?? 0) + (unit[row + j] ?? 0) / numTemplates;
    }
  }
  return normalizeRows(mean, d);
}

export interface ZeroShotResult {
  /** Fraction of images whose true class scores highest (ties count as errors). */
  readonly top1: number;
  /** Fraction whose true class is among the 5 highest (all, when there are <= 5 classes). */
  readonly top5: number;
  /** Images evaluated (those with a label in [0, C)). */
  readonly n: number;
}

/**
 * Top-1/top-5 accuracy of images [n, d] against class embeddings [C, d]. Images with a
 * label outside [0, C) (e.g. -1: no `cls`) are left out of `n`.
 */
export function zeroShotAccuracy(imageEmb: Float32Array, labels: Int32Array | readonly number[], classEmb: Float32Array, d: number): ZeroShotResult {
  const numClasses = classEmb.length / d;
  const images = normalizeRows(imageEmb, d);
  const scores = similarity(images, normalizeRows(classEmb, d), d);
  let n = 0;
  let hit1 = 0;
  let hit5 = 0;
  for (let i = 0; i < images.length / d; i++) {
    const y = labels[i] ?? -1;
    if (!(y >= 0 && y < numClasses)) continue;
    n++;
    const rank = rankOf(scores, numClasses, i, y);
    if (rank < 1) hit1++;
    if (rank < 5) hit5++;
  }
  return { top1: n === 0 ? 0 : hit1 / n, top5: n === 0 ? 0 : hit5 / n, n };
}
