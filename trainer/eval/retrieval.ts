/**
 * Image<->text retrieval recall@K on held-out pairs: image i and text i belong together.
 * Image->text: for each image, is its text among the K most similar texts? Text->image
 * likewise. Ties count against the true match.
 *
 * @example
 * ```ts
 * const r = retrievalRecall(imageEmb, textEmb, d); // { i2t: { r1, r5, r10 }, t2i: {...}, n }
 * ```
 */
import { normalizeRows, rankOf, similarity } from './embeddings.js';

export interface Recall {
  readonly r1: number;
  readonly r5: number;
  readonly r10: number;
}

export interface RetrievalResult {
  readonly i2t: Recall;
  readonly t2i: Recall;
  readonly n: number;
}

function recall(scores: Float32Array, n: number): Recall {
  let r1 = 0;
  let r5 = 0;
  let r10 = 0;
  for (let i = 0; i < n; i++) {
    const rank = rankOf(scores, n, i, i);
    if (rank < 1) r1++;
    if (rank < 5) r5++;
    if (rank < 10) r10++;
  }
  return n === 0 ? { r1: 0, r5: 0, r10: 0 } : { r1: r1 / n, r5: r5 / n, r10: r10 / n };
}

/** Recall@1/5/10 both ways for paired embeddings (both [n, d]). */
export function retrievalRecall(imageEmb: Float32Array, textEmb: Float32Array, d: number): RetrievalResult {
  if (imageEmb.length !== textEmb.length) {
    throw new RangeError(`retrievalRecall: ${imageEmb.length / d} images but ${textEmb.length / d} texts`);
  }
  const n = imageEmb.length / d;
  const img = normalizeRows(imageEmb, d);
  const txt = normalizeRows(textEmb, d);
  return { i2t: recall(similarity(img, txt, d), n), t2i: recall(similarity(txt, img, d), n), n };
}
