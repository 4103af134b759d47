/**
 * Model configuration: one plain object describes every size of a DeCLIP model. Presets
 * `tiny` and `small` are exactly the sizes of the PyTorch reference step
 * (../shared/bench/ref_declip_torch.py), `rn50` and `vitb32` the paper's towers.
 *
 * @example
 * ```ts
 * const config = resolveModelConfig('tiny');
 * config.vision.kind; // 'vit'
 * const custom = resolveModelConfig({ ...modelPresets.tiny, embedDim: 64 });
 * ```
 */
import { InvalidOptionError } from '../../core/errors.js';
import { expectBoolean, expectInteger, expectNumber, expectOneOf, invalidOption } from '../../core/validate.js';

/** Activation inside transformer MLPs: exact GELU (PyTorch nn.GELU) or CLIP's QuickGELU. */
export type Activation = 'gelu' | 'quick_gelu';
export const activations = ['gelu', 'quick_gelu'] as const satisfies readonly Activation[];

/** CLIP VisionTransformer. */
export interface ViTConfig {
  readonly kind: 'vit';
  readonly imageSize: number;
  readonly patchSize: number;
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  readonly activation: Activation;
}

/** CLIP ModifiedResNet: stem width `width/2`, stages of bottlenecks, attention pooling. */
export interface ResNetConfig {
  readonly kind: 'resnet';
  readonly imageSize: number;
  /** Bottleneck blocks per stage (4 stages), e.g. [3, 4, 6, 3] for ResNet-50. */
  readonly layers: readonly [number, number, number, number];
  /** Stem width; stage widths are width, 2w, 4w, 8w (x4 expansion); pooled dim = 32w. */
  readonly width: number;
  /** Heads of the attention pool. */
  readonly heads: number;
}

export type VisionConfig = ViTConfig | ResNetConfig;
export type ImageTowerKind = VisionConfig['kind'];
export const imageTowerKinds = ['vit', 'resnet'] as const satisfies readonly ImageTowerKind[];

/** CLIP text transformer (causal, pooled at EOT). */
export interface TextConfig {
  /** Vocabulary size including the special tokens ([PAD]=0 [SOT]=1 [EOT]=2 [MASK]=3). */
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  readonly activation: Activation;
  /**
   * Add a bias to the text projection (official DeCLIP: `nn.Linear`, on in `rn50`/`vitb32`);
   * false is CLIP's bias-free projection matrix.
   */
  readonly projectionBias: boolean;
}

/** SimSiam heads on the image embedding. */
export interface SimSiamConfig {
  /** Output sizes of the 3 projector layers (Linear+BN each, ReLU between). */
  readonly projector: readonly [number, number, number];
  /** Bottleneck width of the predictor (Linear+BN+ReLU, Linear back to projector[2]). */
  readonly predictorHidden: number;
}

export interface ModelConfig {
  /** Joint image-text embedding size. */
  readonly embedDim: number;
  readonly vision: VisionConfig;
  readonly text: TextConfig;
  /** SimSiam projector/predictor; null builds none (plain CLIP). */
  readonly simsiam: SimSiamConfig | null;
  /** Build the MLM head (Linear text width -> vocab). */
  readonly mlmHead: boolean;
  /** Initial logit_scale (ln(1/0.07)). */
  readonly logitScaleInit: number;
  /** exp(logit_scale) is clamped to at most this in the forward pass (100). */
  readonly logitScaleMax: number;
}

export type PresetName = 'tiny' | 'small' | 'rn50' | 'vitb32';
export const presetNames = ['tiny', 'small', 'rn50', 'vitb32'] as const satisfies readonly PresetName[];

const LOGIT_SCALE_INIT = Math.log(1 / 0.07);

/** Presets. tiny/small: ref_declip_torch.py sizes; rn50/vitb32: CLIP/DeCLIP paper sizes. */
export const modelPresets: Readonly<Record<PresetName, ModelConfig>> = Object.freeze({
  tiny: {
    embedDim: 128,
    vision: { kind: 'vit', imageSize: 32, patchSize: 8, width: 128, layers: 2, heads: 4, activation: 'gelu' },
    text: { vocabSize: 4100, contextLength: 24, width: 128, layers: 2, heads: 4, activation: 'gelu', projectionBias: false },
    simsiam: { projector: [256, 256, 256], predictorHidden: 64 },
    mlmHead: true,
    logitScaleInit: LOGIT_SCALE_INIT,
    logitScaleMax: 100,
  },
  small: {
    embedDim: 128,
    vision: { kind: 'vit', imageSize: 64, patchSize: 8, width: 192, layers: 4, heads: 3, activation: 'gelu' },
    text: { vocabSize: 8196, contextLength: 32, width: 128, layers: 4, heads: 4, activation: 'gelu', projectionBias: false },
    simsiam: { projector: [256, 256, 256], predictorHidden: 64 },
    mlmHead: true,
    logitScaleInit: LOGIT_SCALE_INIT,
    logitScaleMax: 100,
  },
  rn50: {
    embedDim: 1024,
    vision: { kind: 'resnet', imageSize: 224, layers: [3, 4, 6, 3], width: 64, heads: 32 },
    text: { vocabSize: 49412, contextLength: 77, width: 512, layers: 12, heads: 8, activation: 'quick_gelu', projectionBias: true },
    simsiam: { projector: [1024, 1024, 1024], predictorHidden: 512 },
    mlmHead: true,
    logitScaleInit: LOGIT_SCALE_INIT,
    logitScaleMax: 100,
  },
  vitb32: {
    embedDim: 512,
    vision: { kind: 'vit', imageSize: 224, patchSize: 32, width: 768, layers: 12, heads: 12, activation: 'quick_gelu' },
    text: { vocabSize: 49412, contextLength: 77, width: 512, layers: 12, heads: 8, activation: 'quick_gelu', projectionBias: true },
    simsiam: { projector: [1024, 1024, 1024], predictorHidden: 512 },
    mlmHead: true,
    logitScaleInit: LOGIT_SCALE_INIT,
    logitScaleMax: 100,
  },
});

function obj(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(name, 'object', value);
  return value as Record<string, unknown>;
}

function divisible(name: string, a: number, b: number, what: string): void {
  if (a % b !== 0) throw new InvalidOptionError(name, `Expected ${name} (${a}) to be divisible by ${what} (${b})`);
}

function resolveVision(v: Record<string, unknown>): VisionConfig {
  const kind = expectOneOf('vision.kind', v['kind'], imageTowerKinds);
  const imageSize = expectInteger('vision.imageSize', v['imageSize'], 1);
  if (kind === 'vit') {
    const patchSize = expectInteger('vision.patchSize', v['patchSize'], 1, imageSize);
    divisible('vision.imageSize', imageSize, patchSize, 'vision.patchSize');
    const width = expectInteger('vision.width', v['width'], 1);
    const heads = expectInteger('vision.heads', v['heads'], 1, width);
    divisible('vision.width', width, heads, 'vision.heads');
    return {
      kind,
      imageSize,
      patchSize,
      width,
      layers: expectInteger('vision.layers', v['layers'], 0),
      heads,
      activation: expectOneOf('vision.activation', v['activation'] ?? 'gelu', activations),
    };
  }
  divisible('vision.imageSize', imageSize, 32, 'the ResNet stride');
  const layers = v['layers'];
  if (!Array.isArray(layers) || layers.length !== 4) throw invalidOption('vision.layers', 'array of 4 integers', layers);
  const [a, b, c, d] = layers.map((n, i) => expectInteger(`vision.layers[${i}]`, n, 1)) as [number, number, number, number];
  const width = expectInteger('vision.width', v['width'], 2);
  divisible('vision.width', width, 2, 'the stem split');
  const heads = expectInteger('vision.heads', v['heads'], 1);
  divisible('vision.width * 32', width * 32, heads, 'vision.heads');
  return { kind, imageSize, layers: [a, b, c, d], width, heads };
}

function resolveText(t: Record<string, unknown>): TextConfig {
  const width = expectInteger('text.width', t['width'], 1);
  const heads = expectInteger('text.heads', t['heads'], 1, width);
  divisible('text.width', width, heads, 'text.heads');
  return {
    vocabSize: expectInteger('text.vocabSize', t['vocabSize'], 5),
    contextLength: expectInteger('text.contextLength', t['contextLength'], 2),
    width,
    layers: expectInteger('text.layers', t['layers'], 0),
    heads,
    activation: expectOneOf('text.activation', t['activation'] ?? 'gelu', activations),
    projectionBias: expectBoolean('text.projectionBias', t['projectionBias'] ?? false),
  };
}

/**
 * Validate a config object (or look up a preset) once, at the boundary. Messages use the
 * house format ("Expected integer of at least 1 for vision.width but received 0 of type number").
 */
export function resolveModelConfig(input: PresetName | ModelConfig | Record<string, unknown>): ModelConfig {
  if (typeof input === 'string') return modelPresets[expectOneOf('model', input, presetNames)];
  const c = obj('model', input);
  const embedDim = expectInteger('embedDim', c['embedDim'], 1);
  let simsiam: SimSiamConfig | null = null;
  if (c['simsiam'] !== null && c['simsiam'] !== undefined) {
    const s = obj('simsiam', c['simsiam']);
    const p = s['projector'];
    if (!Array.isArray(p) || p.length !== 3) throw invalidOption('simsiam.projector', 'array of 3 integers', p);
    const [p0, p1, p2] = p.map((n, i) => expectInteger(`simsiam.projector[${i}]`, n, 1)) as [number, number, number];
    simsiam = { projector: [p0, p1, p2], predictorHidden: expectInteger('simsiam.predictorHidden', s['predictorHidden'], 1) };
  }
  return {
    embedDim,
    vision: resolveVision(obj('vision', c['vision'])),
    text: resolveText(obj('text', c['text'])),
    simsiam,
    mlmHead: expectBoolean('mlmHead', c['mlmHead'] ?? true),
    logitScaleInit: expectNumber('logitScaleInit', c['logitScaleInit'] ?? LOGIT_SCALE_INIT),
    logitScaleMax: expectNumber('logitScaleMax', c['logitScaleMax'] ?? 100, 0),
  };
}
