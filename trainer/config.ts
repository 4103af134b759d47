/**
 * The training configuration: one JSON object (a file) or a preset name, validated with a
 * zod schema; every error names the field (`ConfigError.path`, e.g. `optimizer.lr`).
 *
 * ```json
 * {
 *   "model": "tiny",                         // preset, or { "preset": "tiny", "embedDim": 64, ... }, or a full model config
 *   "mode": "declip",                        // or "clip" (the baseline)
 *   "loss": { "weights": { "clip": 0.4, "nns": 0.2, "simsiam": 0.2, "mlm": 0.2 }, "queueSize": 4096 },
 *   "optimizer": { "lr": 5e-4, "warmupStartLr": 5e-5, "warmupSteps": 5, "minLr": 0, "weightDecay": 0.1,
 *                  "beta1": 0.9, "beta2": 0.98, "eps": 1e-8, "clipGradNorm": 1, "accumulate": 1,
 *                  "logitScaleRange": [0, 4.6052] },
 *   "batch": 32, "steps": 20, "seed": 0,
 *   "data": { "shards": ["data/train-{000000..000003}.tar"], "workers": 2, "prefetch": 2, "shuffleBuffer": 1000 },
 *   "compute": { "threads": "auto", "timeoutMs": 300000 },  // data-parallel compute threads
 *   "imageSize": 32, "contextLength": 24, "vocabSize": 4100,
 *   "checkpointEvery": 10, "keepCheckpoints": 3, "maxNonFinite": 3
 * }
 * ```
 *
 * @example
 * ```ts
 * const config = await loadTrainConfig('tiny');            // a preset
 * const custom = await loadTrainConfig('runs/my.json');    // a file
 * const over = resolveTrainConfig({ ...TRAIN_PRESETS.tiny, steps: 100 });
 * ```
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError, DeclipError } from '../core/errors.js';
import { type LossConfig, lossPresets, resolveLossConfig } from './losses/config.js';
import { type ModelConfig, modelPresets, presetNames, resolveModelConfig, type PresetName } from './models/config.js';

/** ln(100): CLIP's bound of the logit-scale parameter (exp(s) <= 100). */
export const LN_100 = Math.log(100);

const positiveInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const nonNeg = z.number().nonnegative();

const optimizerSchema = z.strictObject({
  /** Peak learning rate (after warm-up). */
  lr: z.number().positive().default(5e-4),
  /** Learning rate at step 0 of the warm-up. */
  warmupStartLr: nonNeg.default(0),
  warmupSteps: nonNegInt.default(0),
  /** Learning rate at the end of the cosine. */
  minLr: nonNeg.default(0),
  weightDecay: nonNeg.default(0.1),
  /**
   * Also decay the token, positional and class embeddings. Default false (CLIP/open_clip's
   * convention); the official DeCLIP code decays them (on in the `rn50`/`vitb32` presets).
   */
  decayEmbeddings: z.boolean().default(false),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.98),
  eps: z.number().positive().default(1e-8),
  /** Clip gradients to this global norm; null = no clipping. */
  clipGradNorm: z.number().positive().nullable().default(null),
  /** Micro-batches per optimizer step. */
  accumulate: positiveInt.default(1),
  /**
   * The logit-scale parameter is clamped to this range at start-up and after every update
   * (so before and after every step, as the official code does). Default [0, ln 100]
   * (CLIP/open_clip); the official DeCLIP config uses [3, 6] (`grad_clip:
   * logit_scale_param_value`), set in the `rn50`/`vitb32` presets. The forward pass caps
   * exp(scale) at the model's `logitScaleMax` (100) either way.
   */
  logitScaleRange: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => lo <= hi, 'Expected [lo, hi] with lo <= hi').default([0, LN_100]),
});

const lossSchema = z.strictObject({
  weights: z
    .strictObject({ clip: nonNeg.optional(), nns: nonNeg.optional(), simsiam: nonNeg.optional(), mlm: nonNeg.optional() })
    .optional(),
  imageViews: z.union([z.literal(1), z.literal(2)]).optional(),
  textViews: z.union([z.literal(1), z.literal(2)]).optional(),
  maskedCaptionAsView: z.boolean().optional(),
  queueSize: positiveInt.optional(),
  multiView: z.boolean().optional(),
});

const dataSchema = z.strictObject({
  /** Shard URLs (brace patterns allowed); `--shards` on the command line replaces them. */
  shards: z.array(z.string().min(1)).default([]),
  /** Augmentation worker threads. */
  workers: positiveInt.default(2),
  /** Batches prepared ahead of the trainer. */
  prefetch: positiveInt.default(2),
  /** Sample shuffle buffer of the reader (0 = off). */
  shuffleBuffer: nonNegInt.default(1000),
  /** Bad samples: throw, warn, skip. */
  onError: z.enum(['throw', 'warn', 'skip']).default('warn'),
  /** Shards that cannot be opened (missing file, HTTP error, failing pipe:): throw, warn, skip. */
  onShardError: z.enum(['throw', 'warn', 'skip']).default('throw'),
  /** Let `shards` of a config file (and shard index entries) be pipe: commands or leave the index's folder. */
  allowPipeFromFiles: z.boolean().default(false),
  /** Training image augmentation (augment/image presets): `mocov2` (DeCLIP's recipe) or `light` (for small synthetic images). */
  augment: z.enum(['mocov2', 'light']).default('mocov2'),
});

const computeSchema = z.strictObject({
  /**
   * Compute threads: 1 trains in the main thread; N > 1 trains data-parallel in N worker
   * threads, one model replica each, with exactly the one-thread update (trainer/parallel/);
   * "auto" is the core count (at most the batch) on the wasm and cpu backends, 1 on others.
   */
  threads: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
  /** Longest wait (ms) of a compute thread for its peers at one exchange before the run fails. */
  timeoutMs: positiveInt.default(300_000),
});

const modelSchema = z.union([
  z.enum(presetNames),
  z.looseObject({ preset: z.enum(presetNames).optional() }),
]);

export const trainConfigSchema = z.strictObject({
  model: modelSchema.default('tiny'),
  mode: z.enum(['declip', 'clip']).default('declip'),
  loss: lossSchema.prefault({}),
  optimizer: optimizerSchema.prefault({}),
  /** Samples per micro-batch. */
  batch: positiveInt.default(32),
  /** Optimizer steps of the run. */
  steps: positiveInt.default(20),
  seed: z.number().int().min(0).max(4294967295).default(0),
  data: dataSchema.prefault({}),
  compute: computeSchema.prefault({}),
  /** Overrides of the model's image side, context length and vocabulary size. */
  imageSize: positiveInt.optional(),
  contextLength: positiveInt.optional(),
  vocabSize: positiveInt.optional(),
  /** Save a checkpoint every K optimizer steps (0 = only at the end and on signals). */
  checkpointEvery: nonNegInt.default(0),
  keepCheckpoints: nonNegInt.default(3),
  /** Non-finite losses tolerated (each reloads the last checkpoint and skips the batch) before NonFiniteLossError. */
  maxNonFinite: nonNegInt.default(3),
});

/** The config as written (before the model and loss are resolved). */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

/** A validated config: model and loss fully resolved. */
export interface TrainConfig {
  readonly modelName: string;
  readonly model: ModelConfig;
  readonly mode: 'declip' | 'clip';
  readonly loss: LossConfig;
  readonly optimizer: z.output<typeof optimizerSchema>;
  readonly batch: number;
  readonly steps: number;
  readonly seed: number;
  readonly data: z.output<typeof dataSchema>;
  readonly compute: z.output<typeof computeSchema>;
  readonly checkpointEvery: number;
  readonly keepCheckpoints: number;
  readonly maxNonFinite: number;
}

/**
 * The official recipe for the paper-size presets (config `yfcc15m_r50_declip`): batch 128 per
 * GPU, warm-up 1e-4 -> 1e-3 over 2,500 steps, 65,536-entry NN queue, logit-scale parameter in
 * [3, 6], weight decay on the embeddings too, no gradient clipping.
 */
const PAPER_RECIPE = {
  batch: 128,
  steps: 100_000,
  optimizer: { lr: 1e-3, warmupStartLr: 1e-4, warmupSteps: 2500, weightDecay: 0.1, decayEmbeddings: true, logitScaleRange: [3, 6] },
  loss: { queueSize: 65536 },
  data: { workers: 8, prefetch: 4 },
  checkpointEvery: 1000,
} as const satisfies Omit<TrainConfigInput, 'model'>;

/** Training presets: a model preset with settings that suit it. */
export const TRAIN_PRESETS: Readonly<Record<PresetName, TrainConfigInput>> = Object.freeze({
  tiny: {
    model: 'tiny',
    batch: 32,
    steps: 20,
    optimizer: { lr: 5e-4, warmupStartLr: 5e-5, warmupSteps: 5, weightDecay: 0.1, clipGradNorm: 1 },
    checkpointEvery: 10,
  },
  small: {
    model: 'small',
    batch: 64,
    steps: 2000,
    optimizer: { lr: 5e-4, warmupStartLr: 5e-5, warmupSteps: 100, weightDecay: 0.1, clipGradNorm: 1 },
    checkpointEvery: 200,
  },
  rn50: { model: 'rn50', ...PAPER_RECIPE },
  vitb32: { model: 'vitb32', ...PAPER_RECIPE },
});

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Deep merge of plain objects (arrays and scalars of `over` replace). */
function merge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
  return out;
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

function fail(path: string, message: string, file: string | undefined, cause?: unknown): never {
  const where = file === undefined ? 'config' : `config ${file}`;
  throw new ConfigError(`Invalid ${where}: ${path === '' ? '' : `${path}: `}${message}`, { path, file, cause });
}

/**
 * Validate a config object once, at the boundary. Unknown keys are errors (typos do not
 * pass silently). `file` names the source in messages.
 */
export function resolveTrainConfig(input: unknown, file?: string): TrainConfig {
  const parsed = trainConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const all = parsed.error.issues.map((i) => `${pathOf(i.path) || '(root)'}: ${i.message}`).join('; ');
    fail(pathOf(issue?.path ?? []), all, file, parsed.error);
  }
  const c = parsed.data;
  let model: ModelConfig;
  let modelName: string;
  try {
    if (typeof c.model === 'string') {
      model = modelPresets[c.model];
      modelName = c.model;
    } else {
      const { preset, ...rest } = c.model;
      modelName = preset ?? 'custom';
      model = resolveModelConfig((preset === undefined ? rest : merge(modelPresets[preset], rest)) as Record<string, unknown>);
    }
    if (c.imageSize !== undefined || c.contextLength !== undefined || c.vocabSize !== undefined) {
      model = resolveModelConfig({
        ...model,
        vision: { ...model.vision, imageSize: c.imageSize ?? model.vision.imageSize },
        text: { ...model.text, contextLength: c.contextLength ?? model.text.contextLength, vocabSize: c.vocabSize ?? model.text.vocabSize },
      } as unknown as Record<string, unknown>);
    }
  } catch (err) {
    if (err instanceof DeclipError) {
      const field = 'field' in err && typeof err.field === 'string' ? `model.${err.field}` : 'model';
      fail(field, err.message, file, err);
    }
    throw err;
  }
  let loss: LossConfig;
  try {
    const base = lossPresets[c.mode];
    loss = resolveLossConfig({
      ...base,
      ...c.loss,
      weights: { ...base.weights, ...c.loss.weights },
    });
  } catch (err) {
    if (err instanceof DeclipError) {
      const field = 'field' in err && typeof err.field === 'string' ? err.field : 'loss';
      fail(field, err.message, file, err);
    }
    throw err;
  }
  if (loss.weights.simsiam > 0 && model.simsiam === null) fail('loss.weights.simsiam', 'SimSiam weight > 0 but the model has no SimSiam heads (model.simsiam: null)', file);
  if (loss.weights.mlm > 0 && !model.mlmHead) fail('loss.weights.mlm', 'MLM weight > 0 but the model has no MLM head (model.mlmHead: false)', file);
  if (c.optimizer.minLr > c.optimizer.lr) fail('optimizer.minLr', `Expected at most optimizer.lr (${c.optimizer.lr}) but received ${c.optimizer.minLr}`, file);
  return {
    modelName,
    model,
    mode: c.mode,
    loss,
    optimizer: c.optimizer,
    batch: c.batch,
    steps: c.steps,
    seed: c.seed,
    data: c.data,
    compute: c.compute,
    checkpointEvery: c.checkpointEvery,
    keepCheckpoints: c.keepCheckpoints,
    maxNonFinite: c.maxNonFinite,
  };
}

/**
 * A config from a preset name (`tiny`, `small`, `rn50`, `vitb32`) or a JSON file, with
 * optional overrides (command-line flags) merged on top before validation.
 */
export async function loadTrainConfig(nameOrFile: string, overrides: Readonly<Record<string, unknown>> = {}): Promise<TrainConfig> {
  if ((presetNames as readonly string[]).includes(nameOrFile)) {
    return resolveTrainConfig(merge(TRAIN_PRESETS[nameOrFile as PresetName], overrides));
  }
  let text: string;
  try {
    text = await readFile(nameOrFile, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `Cannot read config ${nameOrFile}: expected a preset (${presetNames.join(', ')}) or a JSON file`,
      { path: '', file: nameOrFile, cause: err },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Invalid config ${nameOrFile}: not JSON (${(err as Error).message})`, { path: '', file: nameOrFile, cause: err });
  }
  return resolveTrainConfig(merge(json, overrides), nameOrFile);
}
