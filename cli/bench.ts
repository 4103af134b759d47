import type { Command } from 'commander';
import { registerBenchPipeline } from './bench-pipeline.js';
import { registerBenchTrain } from './bench-train.js';

/** `declip bench pipeline|train`. */
export function registerBenchCommands(program: Command): void {
  const bench = program.command('bench').description('measure the input pipeline and training steps');
  registerBenchPipeline(bench);
  registerBenchTrain(bench);
}
