/**
 * The GPU check (`npm run gpu-check`, or `node gpu-check.js` in the folder that
 * `npm run pack:gpu-check` builds): prints the WebGPU adapter, then times `bench train`
 * for the tiny and small presets on webgpu at batch 64 and 256, and on wasm (every core)
 * at the largest batch that fits, one JSON line each with `msPerSample`; a last line per
 * preset compares the best webgpu result with wasm (the goal is 10x per sample).
 *
 * Flags: `--steps N` (timed steps per run, default 5; the first step, which compiles the
 * shaders, is not counted), `--configs tiny,small`, `--batches 64,256`, `--quick` (tiny at
 * batch 8, 3 steps: a smoke test on a software adapter such as lavapipe), `--no-wasm`.
 */
import { availableParallelism } from 'node:os';
import { runTrainBench, type TrainBenchResult } from '../../cli/bench-train.js';
import { selectBackend } from '../../trainer/backend/select.js';

type Preset = 'tiny' | 'small';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function list(text: string | undefined, fallback: string): string[] {
  return (text ?? fallback).split(',').map((x) => x.trim()).filter((x) => x !== '');
}

const quick = process.argv.includes('--quick');
const steps = Number(flag('--steps') ?? (quick ? 3 : 6));
const configs = list(flag('--configs'), quick ? 'tiny' : 'tiny,small') as Preset[];
const batches = list(flag('--batches'), quick ? '8' : '64,256').map(Number);
const wasmBatches = quick ? [8] : [256, 128, 64, 32];
const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
const say = (line: string): void => void process.stderr.write(line + '\n');

function line(r: TrainBenchResult): object {
  const msPerSample = Math.round((r.msPerStep / r.batch) * 1000) / 1000;
  return { event: 'bench', backend: r.backend, config: r.config, batch: r.batch, threads: r.threads, steps: r.steps, msPerStep: Math.round(r.msPerStep * 10) / 10, msPerSample, losses: r.losses };
}

const selected = await selectBackend({ backend: 'webgpu', log: say });
out({ event: 'adapter', node: process.version, platform: `${process.platform}-${process.arch}`, cores: availableParallelism(), ...selected.adapter });
if (selected.adapter?.isFallbackAdapter === true) say('gpu-check: this is a fallback (software) adapter, not a GPU: its numbers say nothing about GPU speed');

const best = new Map<Preset, { gpu?: number; gpuBatch?: number; wasm?: number; wasmBatch?: number }>();
for (const config of configs) {
  const b = best.get(config) ?? {};
  best.set(config, b);
  for (const batch of batches) {
    say(`gpu-check: ${config} batch ${batch} on webgpu ...`);
    const r = await runTrainBench({ config, batch, steps, backend: 'webgpu', threads: 1, log: say });
    const l = line(r) as { msPerSample: number };
    out(l);
    if (b.gpu === undefined || l.msPerSample < b.gpu) [b.gpu, b.gpuBatch] = [l.msPerSample, batch];
  }
  if (process.argv.includes('--no-wasm')) continue;
  for (const batch of wasmBatches) {
    say(`gpu-check: ${config} batch ${batch} on wasm (${availableParallelism()} threads) ...`);
    try {
      const r = await runTrainBench({ config, batch, steps, backend: 'wasm', threads: 'auto', log: say });
      const l = line(r) as { msPerSample: number };
      out(l);
      [b.wasm, b.wasmBatch] = [l.msPerSample, batch];
      break;
    } catch (err) {
      out({ event: 'bench-failed', backend: 'wasm', config, batch, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
for (const [config, b] of best) {
  const speedup = b.gpu !== undefined && b.wasm !== undefined ? Math.round((b.wasm / b.gpu) * 100) / 100 : null;
  out({ event: 'summary', config, webgpuMsPerSample: b.gpu ?? null, webgpuBatch: b.gpuBatch ?? null, wasmMsPerSample: b.wasm ?? null, wasmBatch: b.wasmBatch ?? null, speedup, goal: 10, goalMet: speedup === null ? null : speedup >= 10 });
}
