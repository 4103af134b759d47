/**
 * Dispatches and milliseconds per training step on the webgpu backend, without and with
 * the toolkit's fused WGSL kernels (trainer/kernels/webgpu/), side by side in one process:
 * `npx tsx scripts/webgpu-dispatches.ts [tiny|small] [batch] [steps] [fused-first]` (default
 * tiny 8 4, the composed run first).
 * Each run is `declip bench train`'s loop (runTrainBench, the same seeds); the dispatch
 * count is the last step's, by program class; ms per step is the median after the first.
 * Prints one JSON line per run.
 */
import { runTrainBench } from '../cli/bench-train.js';
import { selectBackend } from '../trainer/backend/select.js';
import { registerFusedWebGpuKernels, unregisterFusedWebGpuKernels } from '../trainer/kernels/webgpu/index.js';
import { countWebGpuDispatches } from '../trainer/kernels/webgpu/program.js';

const config = process.argv[2] === 'small' ? 'small' : 'tiny';
const batch = Number(process.argv[3] ?? 8);
const steps = Number(process.argv[4] ?? 4);
await selectBackend({ backend: 'webgpu', log: () => undefined });
const counter = countWebGpuDispatches();
for (const fused of process.argv[5] === 'fused-first' ? [true, false] : [false, true]) {
  if (fused) registerFusedWebGpuKernels();
  else unregisterFusedWebGpuKernels();
  let last = new Map<string, number>();
  counter.reset();
  const result = await runTrainBench({
    config, batch, steps, threads: 1, seed: 0, backend: 'webgpu',
    log: (line) => {
      if (!line.startsWith('step ')) return;
      last = new Map(counter.byProgram);
      counter.reset();
    },
  });
  const byProgram = Object.fromEntries([...last].sort((a, b) => b[1] - a[1]));
  const dispatches = [...last.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify({ fused, config, batch, steps, dispatchesPerStep: dispatches, msPerStep: Math.round(result.msPerStep), losses: result.losses, byProgram })}\n`);
}
counter.stop();
