/**
 * The rows of a comparison: the CLIP baseline, the paper's ablation order (Table 5 of
 * Li et al.) and CLIP at about DeCLIP's compute. Each row is the base training config
 * with its mode and loss switched; everything else (model, optimizer, data, seed) is
 * shared, so rows differ only in what they learn from.
 *
 * - `clip`: the contrastive loss on one image view and the caption.
 * - `clip+ss`: + self-supervision on each modality: SimSiam on two image views and MLM on
 *   the caption (the contrastive term still on image view 1 and the caption).
 * - `clip+ss+mvs`: + multi-view supervision: the contrastive term over the 2 x 2
 *   (image view, caption/EDA caption) pairs.
 * - `declip`: + nearest-neighbour supervision: the full recipe.
 * - `clip-2x`: CLIP trained for twice the steps (a DeCLIP step costs about two CLIP steps).
 */
import type { TrainConfigInput } from '../config.js';

export const EXPERIMENT_ROWS = ['clip', 'clip+ss', 'clip+ss+mvs', 'declip', 'clip-2x'] as const;
export type ExperimentRow = (typeof EXPERIMENT_ROWS)[number];

/** How each row is printed in tables. */
export const ROW_LABELS: Readonly<Record<ExperimentRow, string>> = {
  clip: 'CLIP',
  'clip+ss': 'CLIP + SS (SimSiam, MLM)',
  'clip+ss+mvs': 'CLIP + SS + MVS',
  declip: 'DeCLIP (+ NNS)',
  'clip-2x': 'CLIP, 2x steps',
};

type LossInput = NonNullable<TrainConfigInput['loss']>;

const ROW_LOSS: Readonly<Record<ExperimentRow, { mode: 'clip' | 'declip'; loss: LossInput; stepFactor: number }>> = {
  clip: { mode: 'clip', loss: {}, stepFactor: 1 },
  'clip+ss': { mode: 'declip', loss: { weights: { nns: 0 }, textViews: 1, multiView: false }, stepFactor: 1 },
  'clip+ss+mvs': { mode: 'declip', loss: { weights: { nns: 0 } }, stepFactor: 1 },
  declip: { mode: 'declip', loss: {}, stepFactor: 1 },
  'clip-2x': { mode: 'clip', loss: {}, stepFactor: 2 },
};

/** The training config of one row: `base` with the row's mode, loss switches and steps. */
export function rowConfig(row: ExperimentRow, base: TrainConfigInput, steps: number): TrainConfigInput & { steps: number } {
  const r = ROW_LOSS[row];
  const baseLoss = base.loss ?? {};
  const weights = { ...(baseLoss.weights ?? {}), ...(r.loss.weights ?? {}) };
  return {
    ...base,
    mode: r.mode,
    steps: steps * r.stepFactor,
    loss: { ...baseLoss, ...r.loss, ...(Object.keys(weights).length === 0 ? {} : { weights }) },
  };
}
