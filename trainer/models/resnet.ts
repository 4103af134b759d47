/**
 * CLIP ModifiedResNet: a 3-conv stem (3x3 convs, the first strided, then a 2x2 average
 * pool), four stages of bottleneck blocks whose stride-2 blocks are anti-aliased (3x3 conv
 * at stride 1, then a 2x2 average pool before the last 1x1 conv; the shortcut average-pools
 * before its 1x1 conv), and attention pooling (a mean token queries all positions, multi-head,
 * then `c_proj` to the embedding). All convs are bias-free; kernels `[out, in, kh, kw]`.
 * 1x1 convs run as matmuls. Init as CLIP: PyTorch default conv init, each block's
 * `bn3.weight` zero, attention-pool projections N(0, C^-1/2).
 *
 * @example
 * ```ts
 * const tower = createModifiedResNet({ kind: 'resnet', imageSize: 32, layers: [1, 1, 1, 1], width: 8, heads: 2 }, 16);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { type ParamSpec, batchNormSpec, embedding, linearSpec, normal, uniform, weight, zeros } from '../params.js';
import type { ResNetConfig } from './config.js';
import { type ParamSource, attention, batchNorm, conv2d, linear } from './layers.js';
import type { ImageTower } from './tower.js';

const EXPANSION = 4;

function convSpec(name: string, out: number, inp: number, k: number): ParamSpec {
  return weight(`${name}.weight`, [out, inp, k, k], uniform(1 / Math.sqrt(inp * k * k)));
}

interface BlockPlan {
  readonly name: string;
  readonly inplanes: number;
  readonly planes: number;
  readonly stride: number;
  readonly downsample: boolean;
}

function plan(c: ResNetConfig): BlockPlan[] {
  const blocks: BlockPlan[] = [];
  let inplanes = c.width;
  c.layers.forEach((count, stage) => {
    const planes = c.width * 2 ** stage;
    for (let i = 0; i < count; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      blocks.push({
        name: `visual.layer${stage + 1}.${i}`,
        inplanes,
        planes,
        stride,
        downsample: stride > 1 || inplanes !== planes * EXPANSION,
      });
      inplanes = planes * EXPANSION;
    }
  });
  return blocks;
}

export function resnetSpecs(c: ResNetConfig, embedDim: number): ParamSpec[] {
  const half = c.width / 2;
  const pooledDim = c.width * 32;
  const spatial = c.imageSize / 32;
  const specs: ParamSpec[] = [
    convSpec('visual.conv1', half, 3, 3),
    ...batchNormSpec('visual.bn1', half),
    convSpec('visual.conv2', half, half, 3),
    ...batchNormSpec('visual.bn2', half),
    convSpec('visual.conv3', c.width, half, 3),
    ...batchNormSpec('visual.bn3', c.width),
  ];
  for (const b of plan(c)) {
    specs.push(
      convSpec(`${b.name}.conv1`, b.planes, b.inplanes, 1),
      ...batchNormSpec(`${b.name}.bn1`, b.planes),
      convSpec(`${b.name}.conv2`, b.planes, b.planes, 3),
      ...batchNormSpec(`${b.name}.bn2`, b.planes),
      convSpec(`${b.name}.conv3`, b.planes * EXPANSION, b.planes, 1),
      ...batchNormSpec(`${b.name}.bn3`, b.planes * EXPANSION, zeros),
    );
    if (b.downsample) {
      specs.push(
        convSpec(`${b.name}.downsample.0`, b.planes * EXPANSION, b.inplanes, 1),
        ...batchNormSpec(`${b.name}.downsample.1`, b.planes * EXPANSION),
      );
    }
  }
  const std = pooledDim ** -0.5;
  specs.push(
    embedding('visual.attnpool.positional_embedding', [spatial * spatial + 1, pooledDim], normal(std)),
    ...linearSpec('visual.attnpool.k_proj', pooledDim, pooledDim, true, normal(std)),
    ...linearSpec('visual.attnpool.q_proj', pooledDim, pooledDim, true, normal(std)),
    ...linearSpec('visual.attnpool.v_proj', pooledDim, pooledDim, true, normal(std)),
    ...linearSpec('visual.attnpool.c_proj', pooledDim, embedDim, true, normal(std)),
  );
  return specs;
}

/** A bias-free 1x1 conv as a matmul over NHWC rows. */
function conv1x1(p: ParamSource, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const kernel = p.get(`${name}.weight`);
  const out = kernel.shape[0] ?? 0;
  const y = tf.matMul(tf.reshape(x, [n * h * w, c]) as tf.Tensor2D, tf.reshape(kernel, [out, c]) as tf.Tensor2D, false, true);
  return tf.reshape(y, [n, h, w, out]);
}

function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(x, 2, 2, 'valid');
}

function bottleneck(p: ParamSource, b: BlockPlan, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  let out = tf.relu(batchNorm(p, `${b.name}.bn1`, conv1x1(p, `${b.name}.conv1`, x), training));
  out = tf.relu(batchNorm(p, `${b.name}.bn2`, conv2d(p, `${b.name}.conv2`, out, 1, 1), training));
  if (b.stride > 1) out = avgPool2(out);
  out = batchNorm(p, `${b.name}.bn3`, conv1x1(p, `${b.name}.conv3`, out), training);
  let identity = x;
  if (b.downsample) {
    const pooled = b.stride > 1 ? avgPool2(x) : x;
    identity = batchNorm(p, `${b.name}.downsample.1`, conv1x1(p, `${b.name}.downsample.0`, pooled), training);
  }
  return tf.relu(tf.add<tf.Tensor4D>(out, identity));
}

function attentionPool(p: ParamSource, x: tf.Tensor4D, heads: number): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  const seq = tf.reshape(x, [n, h * w, c]) as tf.Tensor3D;
  const tokens = tf.add(tf.concat([tf.mean(seq, 1, true), seq], 1), p.get('visual.attnpool.positional_embedding')) as tf.Tensor3D;
  const len = h * w + 1;
  const flat = tf.reshape(tokens, [n * len, c]) as tf.Tensor2D;
  const query = tf.reshape(tf.slice(tokens, [0, 0, 0], [n, 1, c]), [n, c]) as tf.Tensor2D;
  const q = tf.reshape(linear(p, 'visual.attnpool.q_proj', query), [n, 1, c]) as tf.Tensor3D;
  const k = tf.reshape(linear(p, 'visual.attnpool.k_proj', flat), [n, len, c]) as tf.Tensor3D;
  const v = tf.reshape(linear(p, 'visual.attnpool.v_proj', flat), [n, len, c]) as tf.Tensor3D;
  const attended = tf.reshape(attention(q, k, v, heads), [n, c]) as tf.Tensor2D;
  return linear(p, 'visual.attnpool.c_proj', attended);
}

export function createModifiedResNet(c: ResNetConfig, embedDim: number): ImageTower {
  const blocks = plan(c);
  return {
    kind: 'resnet',
    specs: resnetSpecs(c, embedDim),
    imageSize: c.imageSize,
    outputDim: embedDim,
    forward(p: ParamSource, images: tf.Tensor4D, training: boolean): tf.Tensor2D {
      let x = tf.relu(batchNorm(p, 'visual.bn1', conv2d(p, 'visual.conv1', images, 2, 1), training));
      x = tf.relu(batchNorm(p, 'visual.bn2', conv2d(p, 'visual.conv2', x, 1, 1), training));
      x = tf.relu(batchNorm(p, 'visual.bn3', conv2d(p, 'visual.conv3', x, 1, 1), training));
      x = avgPool2(x);
      for (const b of blocks) x = bottleneck(p, b, x, training);
      return attentionPool(p, x, c.heads);
    },
  };
}
