/**
 * Using the webgpu backend in tests: on a machine without a WebGPU adapter (no Vulkan
 * driver) the webgpu tests skip with the reason; under `CI=true` (where .ci/run installs
 * Mesa's lavapipe) that is a failure, so CI never passes by skipping them.
 */
import type { Test } from 'tap';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../trainer/backend/select.js';

let reason: string | undefined | null = null;

/** Why webgpu cannot run here (undefined when it can). Leaves webgpu active when it can. */
export async function webGpuUnavailable(): Promise<string | undefined> {
  if (reason === null) {
    try {
      await selectBackend({ backend: 'webgpu', log: () => undefined });
      reason = undefined;
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
    }
  } else if (reason === undefined) {
    await selectBackend({ backend: 'webgpu', log: () => undefined });
  }
  return reason;
}

/**
 * Activate webgpu for test `t`, or end it: a skip with the reason, or a failure when
 * `CI=true`. Returns whether the test should go on.
 */
export async function useWebGpu(t: Test): Promise<boolean> {
  const why = await webGpuUnavailable();
  if (why === undefined) return true;
  if (process.env['CI'] === 'true') t.fail(`webgpu must run in CI (.ci/vulkan-driver installs lavapipe): ${why}`);
  else t.pass(`skipped: no WebGPU adapter here: ${why}`, { skip: why });
  return false;
}

/** Whether the active webgpu backend has read a GPU buffer synchronously since it started. */
export function webGpuReadSynchronously(): boolean {
  return (tf.backend() as unknown as { hasReadSyncWarned?: boolean }).hasReadSyncWarned === true;
}

/** Largest relative difference of two number lists (`|a - b| / max(|b|, 1e-6)`). */
export function maxRelDiff(a: readonly number[], b: readonly number[]): number {
  let worst = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    worst = Math.max(worst, Math.abs(x - y) / Math.max(Math.abs(y), 1e-6));
  }
  return worst;
}
