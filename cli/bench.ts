import type { Command } from 'commander';
import { registerBenchIngest } from './bench-ingest.js';
import { registerBenchPipeline } from './bench-pipeline.js';
import { registerBenchTrain } from './bench-train.js';

/** `declip bench pipeline|train|ingest`. */
export function registerBenchCommands(program: Command): void {
  const bench = program.command('bench').description('measure the input pipeline and training steps');
  registerBenchPipeline(bench);
  registerBenchTrain(bench);
  registerBenchIngest(bench);
}
