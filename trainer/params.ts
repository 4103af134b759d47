/**
 * Named model parameters: pure specs (name, shape, initialiser, weight-decay flag) and the
 * store that turns them into `tf.Variable`s, initialised from a seeded {@link Rng}.
 *
 * Names and layouts follow CLIP/PyTorch (`visual.transformer.resblocks.0.attn.in_proj_weight`,
 * Linear weights `[out, in]`, conv kernels `[out, in, kh, kw]`), so a safetensors file written
 * from {@link ParamStore.entries} is readable by PyTorch tools with the same names and shapes.
 *
 * Weight-decay rule (CLIP convention, for AdamW): a parameter decays iff it is a matrix or a
 * kernel that multiplies activations (Linear/conv weights, attention projections, the
 * `visual.proj` / `text_projection` matrices). Biases, LayerNorm/BatchNorm gains and shifts,
 * embeddings (token, positional, class) and `logit_scale` do not decay. Each spec carries the
 * flag explicitly; nothing is inferred from names at run time.
 *
 * @example
 * ```ts
 * const store = ParamStore.create([linearSpec('head', 4, 2)].flat(), 42);
 * store.get('head.weight').shape; // [2, 4]
 * store.dispose();
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, deriveSeed } from '../core/rng.js';
import { InvalidOptionError } from '../core/errors.js';

/** How a parameter is initialised. Every random init draws from its own seeded stream. */
export type Init =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'uniform'; readonly bound: number };

/** A parameter or buffer, described as data (no tensors). */
export interface ParamSpec {
  /** PyTorch-style dotted name, unique in a model. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
  /** False for non-trainable buffers (BatchNorm running mean/var). */
  readonly trainable: boolean;
  /** AdamW weight decay applies (see the module rule). Always false for buffers. */
  readonly decay: boolean;
  /** A token, positional or class embedding (decays only with AdamW's `decayEmbeddings`). */
  readonly embedding?: boolean;
}

/** One materialised parameter. `variable.name` is unique per process; `name` is the model name. */
export interface ParamEntry {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly trainable: boolean;
  readonly decay: boolean;
  readonly embedding: boolean;
}

export const zeros: Init = Object.freeze({ kind: 'zeros' });
export const ones: Init = Object.freeze({ kind: 'ones' });
export const normal = (std: number): Init => ({ kind: 'normal', std });
export const uniform = (bound: number): Init => ({ kind: 'uniform', bound });

/** A trainable weight matrix/kernel (decays). */
export function weight(name: string, shape: readonly number[], init: Init): ParamSpec {
  return { name, shape, init, trainable: true, decay: true };
}

/** A trainable parameter without weight decay (bias, norm gain, embedding, scale). */
export function noDecay(name: string, shape: readonly number[], init: Init): ParamSpec {
  return { name, shape, init, trainable: true, decay: false };
}

/**
 * A token, positional or class embedding: no decay under the CLIP convention, decayed by the
 * official DeCLIP code (AdamW's `decayEmbeddings`, on in the paper presets).
 */
export function embedding(name: string, shape: readonly number[], init: Init): ParamSpec {
  return { name, shape, init, trainable: true, decay: false, embedding: true };
}

/** A non-trainable buffer. */
export function buffer(name: string, shape: readonly number[], init: Init): ParamSpec {
  return { name, shape, init, trainable: false, decay: false };
}

/** PyTorch's default `nn.Linear` init: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)). */
export function linearSpec(name: string, inDim: number, outDim: number, bias = true, weightInit?: Init): ParamSpec[] {
  const bound = 1 / Math.sqrt(inDim);
  const specs = [weight(`${name}.weight`, [outDim, inDim], weightInit ?? uniform(bound))];
  if (bias) specs.push(noDecay(`${name}.bias`, [outDim], weightInit === undefined ? uniform(bound) : zeros));
  return specs;
}

/** LayerNorm gain (ones) and shift (zeros). */
export function layerNormSpec(name: string, dim: number): ParamSpec[] {
  return [noDecay(`${name}.weight`, [dim], ones), noDecay(`${name}.bias`, [dim], zeros)];
}

/** BatchNorm gain/shift (trainable) and running mean/var (buffers). */
export function batchNormSpec(name: string, dim: number, gain: Init = ones): ParamSpec[] {
  return [
    noDecay(`${name}.weight`, [dim], gain),
    noDecay(`${name}.bias`, [dim], zeros),
    buffer(`${name}.running_mean`, [dim], zeros),
    buffer(`${name}.running_var`, [dim], ones),
  ];
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Total element count of the trainable specs (or of all specs with `includeBuffers`). */
export function countParameters(specs: readonly ParamSpec[], includeBuffers = false): number {
  let n = 0;
  for (const s of specs) if (s.trainable || includeBuffers) n += sizeOf(s.shape);
  return n;
}

/** Fill a Float32Array for `spec` from a stream seeded by (seed, name): order-independent. */
export function initialValues(spec: ParamSpec, seed: number): Float32Array {
  const out = new Float32Array(sizeOf(spec.shape));
  const init = spec.init;
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(init.value);
      break;
    case 'normal': {
      const rng = new Rng(deriveSeed(seed, 'param', spec.name));
      for (let i = 0; i < out.length; i++) out[i] = rng.normal() * init.std;
      break;
    }
    case 'uniform': {
      const rng = new Rng(deriveSeed(seed, 'param', spec.name));
      for (let i = 0; i < out.length; i++) out[i] = (2 * rng.next() - 1) * init.bound;
      break;
    }
  }
  return out;
}

let storeCounter = 0;

/**
 * The variables of one model. tfjs variable names must be unique per process, so each
 * variable is registered as `declip<k>/<name>`; use {@link ParamEntry.name} for the model
 * name (checkpoints) and `entry.variable` for `tf.variableGrads` / optimisers.
 * `dispose()` is idempotent.
 */
export class ParamStore {
  readonly #entries: ParamEntry[];
  readonly #byName = new Map<string, ParamEntry>();
  readonly #byVariableName = new Map<string, ParamEntry>();
  #disposed = false;

  private constructor(entries: ParamEntry[]) {
    this.#entries = entries;
    for (const e of entries) {
      this.#byName.set(e.name, e);
      this.#byVariableName.set(e.variable.name, e);
    }
  }

  /** Materialise `specs` with values from `seed`. Throws on duplicate names. */
  static create(specs: readonly ParamSpec[], seed: number): ParamStore {
    const scope = `declip${++storeCounter}`;
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.name)) throw new InvalidOptionError('params', `Duplicate parameter name ${s.name}`);
      seen.add(s.name);
    }
    const entries = specs.map((s): ParamEntry => {
      const value = tf.tensor(initialValues(s, seed), [...s.shape], 'float32');
      const variable = tf.variable(value, s.trainable, `${scope}/${s.name}`);
      value.dispose();
      return { name: s.name, variable, trainable: s.trainable, decay: s.decay, embedding: s.embedding === true };
    });
    return new ParamStore(entries);
  }

  /** The variable called `name` (model name). Throws a typed error when unknown. */
  get(name: string): tf.Variable {
    const e = this.#byName.get(name);
    if (e === undefined) throw new InvalidOptionError('params', `Unknown parameter ${name}`);
    return e.variable;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Model name of a tfjs variable name (as keys of `tf.variableGrads` results). */
  nameOf(variableName: string): string | undefined {
    return this.#byVariableName.get(variableName)?.name;
  }

  /** All parameters and buffers, in model order. */
  entries(): readonly ParamEntry[] {
    return this.#entries;
  }

  /** Trainable parameters (with their decay flag). */
  trainable(): ParamEntry[] {
    return this.#entries.filter((e) => e.trainable);
  }

  /** Non-trainable buffers (BatchNorm running statistics). */
  buffers(): ParamEntry[] {
    return this.#entries.filter((e) => !e.trainable);
  }

  /** The trainable variables, e.g. for `tf.variableGrads(f, store.trainableVariables())`. */
  trainableVariables(): tf.Variable[] {
    return this.trainable().map((e) => e.variable);
  }

  /** Number of trainable scalars (or all, with buffers). */
  numParameters(includeBuffers = false): number {
    let n = 0;
    for (const e of this.#entries) if (e.trainable || includeBuffers) n += e.variable.size;
    return n;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Free every variable. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const e of this.#entries) e.variable.dispose();
  }
}
