/**
 * The DeCLIP augmentation worker (one per pool thread). For each sample of a task:
 * decode the image once and cut two mocov2 views from it, normalised straight into the
 * result buffer; decode the caption (strict UTF-8), tokenize it, make its EDA view and
 * its MLM-masked view. Every random choice comes from `deriveSeed(seed, epoch, key,
 * 'view1' | 'view2' | 'text')`, so the output depends only on the data and the seed.
 *
 * With `workerExtra.decodeOnly: true` the worker only decodes each image (no views, no
 * text; the result rows stay zero): the decode-only baseline of `declip bench pipeline
 * --decode-only`, the same pipeline minus the augmentation work.
 *
 * Per-worker state (tokenizer loaded once from its JSON file, the compiled image
 * transform, the WordNet reader with its cache) is built on the first task.
 *
 * @example
 * ```ts
 * // used through the pool: new AugmentPool({ init: { imageSize: 224, contextLength: 77, tokenizerFile } })
 * ```
 */
import { workerData } from 'piscina';
import { WorkerError } from '../../core/errors.js';
import { deriveSeed, Rng } from '../../core/rng.js';
import { compileImageTransform, type CompiledImageTransform } from '../../augment/image/compile.js';
import { decodeImage, resolveDecodeOptions, type ResolvedDecodeOptions } from '../../augment/image/decode.js';
import { mocov2Transform } from '../../augment/image/presets.js';
import type { RgbImage } from '../../augment/image/types.js';
import { augmentDecodedViews } from '../../augment/image/views.js';
import { decodeCaption } from '../../augment/text/caption.js';
import { CaptionTokenizer } from '../../augment/text/tokenizer.js';
import { allocateTextViews, TextAugmenter, type TextViews } from '../../augment/text/views.js';
import type { WorkerInit } from '../pool.js';
import { intsPerSample, type AugmentResult, type AugmentTask } from '../task.js';
import { allocateResult, imageBytes, toFailure, transferResult, viewTargets } from './protocol.js';
import { SampleError } from '../../core/errors.js';

interface WorkerState {
  readonly imageSize: number;
  readonly contextLength: number;
  readonly transform: CompiledImageTransform;
  readonly decode: ResolvedDecodeOptions;
  readonly text: TextAugmenter;
  /** One-row scratch for the text views. */
  readonly scratch: TextViews;
  /** Decode only (benchmark baseline): no views, no text. */
  readonly decodeOnly: boolean;
}

let state: WorkerState | undefined;

function setUp(): WorkerState {
  const init = workerData as WorkerInit;
  if (init.tokenizerFile === undefined) throw new WorkerError('the augmentation worker needs tokenizerFile (a saved tokenizer JSON)');
  const tokenizer = CaptionTokenizer.loadSync(init.tokenizerFile);
  const spec: unknown = init.extra?.['imageTransform'] ?? mocov2Transform({ size: init.imageSize });
  return {
    imageSize: init.imageSize,
    contextLength: init.contextLength,
    transform: compileImageTransform(spec, 'imageTransform'),
    decode: resolveDecodeOptions({
      ...(init.pixelLimit === undefined ? {} : { maxPixels: init.pixelLimit }),
      fastJpeg: init.fastJpeg ?? false,
    }),
    text: new TextAugmenter(tokenizer, { contextLength: init.contextLength }),
    scratch: allocateTextViews(1, init.contextLength),
    decodeOnly: init.extra?.['decodeOnly'] === true,
  };
}

export async function augment(task: AugmentTask): Promise<AugmentResult> {
  state ??= setUp();
  const { imageSize: S, contextLength: L, transform, decode, text, scratch, decodeOnly } = state;
  const pixels = S * S * 3;
  const rowInts = intsPerSample(L);
  const out = allocateResult(task, S, L);
  // Start every decode of the group at once (sharp decodes on the libuv pool), so decoding
  // one image overlaps cutting the views of the previous one on this thread.
  const decoded: Promise<RgbImage>[] = task.samples.map((s) => {
    try {
      return decodeImage(imageBytes(task, s), decode);
    } catch (err) {
      return Promise.reject(err);
    }
  });
  for (const p of decoded) p.catch(() => {});
  for (const [i, s] of task.samples.entries()) {
    try {
      if (s.captionLength < 0) throw new SampleError('missing-caption', 'sample has no txt member', { url: s.url, key: s.key });
      const caption = decodeCaption(new Uint8Array(task.data, s.captionOffset, s.captionLength));
      const image = await (decoded[i] as Promise<RgbImage>);
      if (decodeOnly) continue;
      augmentDecodedViews(
        image,
        transform,
        [new Rng(deriveSeed(task.seed, s.epoch, s.key, 'view1')), new Rng(deriveSeed(task.seed, s.epoch, s.key, 'view2'))],
        viewTargets(task, out, i, pixels),
      );
      text.viewsInto(caption, new Rng(deriveSeed(task.seed, s.epoch, s.key, 'text')), scratch, 0);
      const row = out.ints.subarray(i * rowInts, (i + 1) * rowInts);
      row.set(scratch.tokens, 0);
      row.set(scratch.tokensEda, L);
      row.set(scratch.tokensMasked, 2 * L);
      row.set(scratch.mlmLabels, 3 * L);
      row[4 * L] = scratch.eot[0] ?? 0;
      row[4 * L + 1] = scratch.eotEda[0] ?? 0;
    } catch (err) {
      out.failures[i] = toFailure(err);
    }
  }
  return transferResult(out);
}
