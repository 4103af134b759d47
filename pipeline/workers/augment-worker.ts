/**
 * The DeCLIP augmentation worker (one per pool thread). Placeholder until the image and
 * text operators land.
 */
import type { AugmentResult, AugmentTask } from '../task.js';
import { WorkerError } from '../../core/errors.js';

export function augment(_task: AugmentTask): AugmentResult {
  throw new WorkerError('the DeCLIP augmentation worker is not available yet');
}
