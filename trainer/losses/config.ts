/**
 * Loss configuration: the weights of the four terms and the views they use. `declip` is
 * the paper's recipe (0.4 CLIP over 2x2 views, 0.2 NNS, 0.2 SimSiam, 0.2 MLM, masked
 * caption as text view 1); `clip` is the baseline (one view each, no extra losses).
 * A weight of 0 switches a term off (it is not computed at all).
 *
 * @example
 * ```ts
 * const noMlm = resolveLossConfig({ ...lossPresets.declip, weights: { ...lossPresets.declip.weights, mlm: 0 } });
 * ```
 */
import { InvalidOptionError } from '../../core/errors.js';
import { expectBoolean, expectInteger, expectNumber, expectOneOf, invalidOption } from '../../core/validate.js';

export type LossTerm = 'clip' | 'nns' | 'simsiam' | 'mlm';
export const lossTerms = ['clip', 'nns', 'simsiam', 'mlm'] as const satisfies readonly LossTerm[];

export type LossWeights = Readonly<Record<LossTerm, number>>;

export interface LossConfig {
  readonly weights: LossWeights;
  /** Image views: 1 (images1 only) or 2 (images1, images2). SimSiam needs 2. */
  readonly imageViews: 1 | 2;
  /** Text views: 1 (caption) or 2 (caption, EDA caption). */
  readonly textViews: 1 | 2;
  /**
   * Use the MLM-masked caption as the caption view (official DeCLIP: one text-tower pass
   * serves both the contrastive terms and MLM). Only applies while the MLM weight is > 0;
   * otherwise the plain caption is used. With false, MLM runs an extra text-tower pass.
   */
  readonly maskedCaptionAsView: boolean;
  /** NN queue length (official 65,536; the reference step 4,096). */
  readonly queueSize: number;
  /**
   * Multi-view supervision: the contrastive term over every (image view, text view) pair
   * (the paper's MVS). false: over image view 1 and the caption only, even when the other
   * views exist for SimSiam/MLM (the paper's "CLIP + SS" ablation row). Default true.
   */
  readonly multiView?: boolean;
}

export type LossPresetName = 'declip' | 'clip';
export const lossPresetNames = ['declip', 'clip'] as const satisfies readonly LossPresetName[];

export const lossPresets: Readonly<Record<LossPresetName, LossConfig>> = Object.freeze({
  declip: {
    weights: { clip: 0.4, nns: 0.2, simsiam: 0.2, mlm: 0.2 },
    imageViews: 2,
    textViews: 2,
    maskedCaptionAsView: true,
    queueSize: 4096,
  },
  clip: {
    weights: { clip: 1, nns: 0, simsiam: 0, mlm: 0 },
    imageViews: 1,
    textViews: 1,
    maskedCaptionAsView: false,
    queueSize: 4096,
  },
});

function views(name: string, value: unknown): 1 | 2 {
  return expectInteger(name, value, 1, 2) as 1 | 2;
}

/** Validate a loss config (or look up a preset) once, at the boundary. */
export function resolveLossConfig(input: LossPresetName | LossConfig | Record<string, unknown>): LossConfig {
  if (typeof input === 'string') return lossPresets[expectOneOf('loss', input, lossPresetNames)];
  if (typeof input !== 'object' || input === null) throw invalidOption('loss', 'object', input);
  const c = input as Record<string, unknown>;
  const w = c['weights'];
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw invalidOption('loss.weights', 'object', w);
  const wr = w as Record<string, unknown>;
  const weights = Object.fromEntries(
    lossTerms.map((k) => [k, expectNumber(`loss.weights.${k}`, wr[k] ?? 0, 0)]),
  ) as Record<LossTerm, number>;
  const config: LossConfig = {
    weights,
    imageViews: views('loss.imageViews', c['imageViews'] ?? 2),
    textViews: views('loss.textViews', c['textViews'] ?? 2),
    maskedCaptionAsView: expectBoolean('loss.maskedCaptionAsView', c['maskedCaptionAsView'] ?? true),
    queueSize: expectInteger('loss.queueSize', c['queueSize'] ?? 4096, 1),
    ...(c['multiView'] === undefined ? {} : { multiView: expectBoolean('loss.multiView', c['multiView']) }),
  };
  if (config.weights.simsiam > 0 && config.imageViews !== 2) {
    throw new InvalidOptionError('loss.imageViews', 'Expected 2 for loss.imageViews when loss.weights.simsiam > 0 (SimSiam compares two image views) but received 1 of type number');
  }
  if (lossTerms.every((k) => config.weights[k] === 0)) {
    throw new InvalidOptionError('loss.weights', 'Expected at least one loss weight above 0 for loss.weights but received all zero');
  }
  return config;
}
