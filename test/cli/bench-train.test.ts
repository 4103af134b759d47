import t from 'tap';
import { runTrainBench } from '../../cli/bench-train.js';

t.test('bench train: one and two compute threads share one setup (the same losses from the first step)', async (tt) => {
  const options = { config: 'tiny', batch: 4, steps: 2, backend: 'wasm', seed: 5 } as const;
  const one = await runTrainBench({ ...options, threads: 1 });
  const two = await runTrainBench({ ...options, threads: 2 });
  tt.equal(one.threads, 1, 'one thread');
  tt.equal(two.threads, 2, 'two threads');
  tt.equal(one.losses.length, 2, 'a loss per step');
  for (let s = 0; s < 2; s++) {
    const a = one.losses[s] as number;
    const b = two.losses[s] as number;
    tt.ok(Number.isFinite(a), `step ${s + 1}: finite loss ${a}`);
    tt.ok(Math.abs(a - b) <= 1e-4 * Math.abs(a), `step ${s + 1}: 1 thread ${a} vs 2 threads ${b}`);
  }
  const other = await runTrainBench({ ...options, seed: 6, threads: 1 });
  tt.not(other.losses[0], one.losses[0], 'the seed changes the run');
  tt.ok(one.msPerStep > 0 && two.msPerStep > 0, 'step times are measured');
  tt.ok(one.startupMs > 0 && two.startupMs > 0, 'start-up times are measured');
});
