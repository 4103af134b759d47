/**
 * The DeCLIP model: an image tower (ViT or ModifiedResNet), the CLIP text tower, optional
 * SimSiam heads and MLM head, and `logit_scale`. It owns its variables (a {@link ParamStore})
 * and exposes pure forward functions; the losses live in trainer/losses and the per-batch
 * computation in trainer/declip-step.ts.
 *
 * Ownership: every method returns new tensors that the caller owns (call inside `tf.tidy`
 * or a gradient function). In training mode BatchNorm layers update their running
 * statistics in place, once per call.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * const model = createDeclipModel('tiny', { seed: 42 });
 * const emb = tf.tidy(() => model.encodeImage(tf.zeros([2, 32, 32, 3]), false)); // [2, 128]
 * emb.dispose();
 * model.dispose();
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../../core/errors.js';
import { expectInteger } from '../../core/validate.js';
import { type ParamEntry, type ParamSpec, ParamStore, countParameters, noDecay } from '../params.js';
import { type ModelConfig, type PresetName, resolveModelConfig } from './config.js';
import { predictorForward, projectorForward, simsiamSpecs } from './heads.js';
import { createImageTower } from './registry.js';
import { type TextFeatures, mlmHeadSpecs, mlmLogits, textForward, textSpecs } from './text.js';
import type { ImageTower } from './tower.js';

/** Every parameter/buffer spec of a model, in order (pure: no tensors are created). */
export function modelSpecs(config: ModelConfig): ParamSpec[] {
  const tower = createImageTower(config.vision, config.embedDim);
  return specsWith(config, tower);
}

function specsWith(config: ModelConfig, tower: ImageTower): ParamSpec[] {
  const specs: ParamSpec[] = [...tower.specs, ...textSpecs(config.text, config.embedDim)];
  specs.push(noDecay('logit_scale', [], { kind: 'constant', value: config.logitScaleInit }));
  if (config.mlmHead) specs.push(...mlmHeadSpecs(config.text));
  if (config.simsiam !== null) specs.push(...simsiamSpecs(config.simsiam, config.embedDim));
  return specs;
}

/** Trainable parameter count of a config, without building it (e.g. for rn50/vitb32). */
export function countModelParameters(config: ModelConfig | PresetName): number {
  return countParameters(modelSpecs(resolveModelConfig(config)));
}

export interface CreateModelOptions {
  /** Seed for every initialiser (each parameter has its own stream derived from it). */
  readonly seed: number;
}

export class DeclipModel {
  readonly config: ModelConfig;
  readonly params: ParamStore;
  readonly imageTower: ImageTower;

  constructor(config: ModelConfig, options: CreateModelOptions) {
    this.config = config;
    this.imageTower = createImageTower(config.vision, config.embedDim);
    this.params = ParamStore.create(specsWith(config, this.imageTower), options.seed);
  }

  get embedDim(): number {
    return this.config.embedDim;
  }

  get hasSimSiam(): boolean {
    return this.config.simsiam !== null;
  }

  get hasMlmHead(): boolean {
    return this.config.mlmHead;
  }

  /** Un-normalised image embeddings `[B, embedDim]` of NHWC images `[B, S, S, 3]`. */
  encodeImage(images: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return this.imageTower.forward(this.params, images, training);
  }

  /** Caption embedding (pooled at `eot`, projected, un-normalised) and final token features. */
  encodeText(ids: tf.Tensor2D, eot: tf.Tensor1D): TextFeatures {
    return textForward(this.params, this.config.text, ids, eot);
  }

  /** MLM logits `[M, vocab]` at flat positions `b * L + l` of `tokens` `[B, L, w]`. */
  mlmLogits(tokens: tf.Tensor3D, flatIndex: tf.Tensor1D): tf.Tensor2D {
    if (!this.config.mlmHead) throw new InvalidOptionError('mlmHead', 'This model was built without an MLM head (mlmHead: false)');
    return mlmLogits(this.params, tokens, flatIndex);
  }

  /** SimSiam projector on image embeddings. */
  project(features: tf.Tensor2D, training: boolean): tf.Tensor2D {
    this.#requireSimSiam();
    return projectorForward(this.params, features, training);
  }

  /** SimSiam predictor on projections. */
  predict(z: tf.Tensor2D, training: boolean): tf.Tensor2D {
    this.#requireSimSiam();
    return predictorForward(this.params, z, training);
  }

  /**
   * `min(exp(logit_scale), logitScaleMax)` as a scalar tensor. The gradient is the official
   * code's: it caps through `.data`, which autograd never sees, so above the cap the forward
   * uses the cap while the parameter still gets `dL/dscale * exp(logit_scale)` (tf.minimum would
   * give it 0 there, and a parameter above ln 100 could never come back down).
   */
  logitScale(): tf.Scalar {
    return cappedExp(this.params.get('logit_scale') as tf.Scalar, this.config.logitScaleMax);
  }

  /** The raw `logit_scale` variable (the optimiser may clamp it to [3, 6] between steps). */
  get logitScaleVariable(): tf.Variable {
    return this.params.get('logit_scale');
  }

  /** Trainable parameters with their names and weight-decay flags. */
  trainable(): ParamEntry[] {
    return this.params.trainable();
  }

  /** Trainable variables (for `tf.variableGrads`). */
  trainableVariables(): tf.Variable[] {
    return this.params.trainableVariables();
  }

  #requireSimSiam(): void {
    if (this.config.simsiam === null) throw new InvalidOptionError('simsiam', 'This model was built without SimSiam heads (simsiam: null)');
  }

  /** Free every variable. Idempotent. */
  dispose(): void {
    this.params.dispose();
  }
}

/**
 * Build a model from a preset name or a config object (validated here, once).
 * @throws InvalidOptionError on a bad config or seed.
 */
export function createDeclipModel(config: PresetName | ModelConfig, options: CreateModelOptions): DeclipModel {
  const seed = expectInteger('seed', options.seed, 0, 4294967295);
  return new DeclipModel(resolveModelConfig(config), { seed });
}

/** `min(exp(x), max)` with the gradient of `exp(x)` (the cap is invisible to the gradient, see {@link DeclipModel.logitScale}). */
export function cappedExp(x: tf.Scalar, max: number): tf.Scalar {
  const f = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const e = tf.exp(inputs[0] as tf.Tensor);
    (inputs[1] as tf.GradSaveFunc)([e]);
    return { value: tf.minimum(e, max), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0] as tf.Tensor) };
  });
  return f(x) as tf.Scalar;
}
