/**
 * Registering tfjs-core's gradient functions.
 *
 * The CommonJS bundle of `@tensorflow/tfjs-core` that Node.js loads (`tf-core.node.js`)
 * contains no gradient configs: the union package `@tensorflow/tfjs` normally registers
 * them by importing `@tensorflow/tfjs-core/dist/register_all_gradients.js`, an ES module
 * tree whose relative imports have no `.js` suffix, which Node's ESM loader refuses. We
 * install a narrow resolve hook (relative, suffix-less specifiers inside
 * `@tensorflow/tfjs-core/dist/` only get `.js` or `/index.js` appended) and import that
 * file. tfjs keeps its kernel/gradient registries and its engine on the global object and
 * its `Tensor` `instanceof` check is structural, so gradients registered by that ES module
 * copy serve the CommonJS copy that the rest of the toolkit imports.
 */
import * as tf from '@tensorflow/tfjs-core';
import { register } from 'node:module';
import { BackendError } from '../../core/errors.js';

// Suffix-less relative specifiers inside tfjs-core's dist/ try `.js` first: the tree has
// about 900 modules, and a failed resolution per module (the plain specifier first) made
// loading it, in every compute worker too, noticeably slower.
const HOOK = `
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if ((specifier.startsWith('./') || specifier.startsWith('../')) && !specifier.endsWith('.js') &&
      parent.includes('/@tensorflow/tfjs-core/dist/')) {
    try { return await next(specifier + '.js', context); } catch {}
    try { return await next(specifier + '/index.js', context); } catch {}
  }
  return next(specifier, context);
}`;

let pending: Promise<void> | undefined;

/**
 * Make `tf.grad`, `tf.variableGrads` and optimizers work: register every gradient of
 * tfjs-core once per process (idempotent; later calls return the same promise).
 *
 * @example
 * ```ts
 * await ensureGradients();
 * const g = tf.grad((x) => tf.sum(tf.square(x)))(tf.tensor([1, 2]));
 * ```
 */
export function ensureGradients(): Promise<void> {
  pending ??= (async () => {
    if (tf.getGradient(tf.AddN) !== undefined && tf.getGradient(tf.BatchMatMul) !== undefined) return;
    try {
      register('data:text/javascript,' + encodeURIComponent(HOOK));
      await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    } catch (err) {
      throw new BackendError('gradients', 'Could not register the tfjs-core gradient functions', { cause: err });
    }
    if (tf.getGradient(tf.AddN) === undefined) {
      throw new BackendError('gradients', 'tfjs-core gradients were loaded into a separate registry');
    }
  })();
  return pending;
}
