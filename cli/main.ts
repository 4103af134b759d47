/**
 * The `declip` command. Each command group lives in its own file under cli/ and
 * registers itself on the program; this file only wires them together.
 */
import { Command, CommanderError } from 'commander';
import { DeclipError } from '../core/errors.js';
import { packageVersion } from '../core/package-info.js';
import { registerBenchCommands } from './bench.js';
import { registerDemo } from './demo.js';
import { registerEval } from './eval.js';
import { registerExperiment } from './experiment.js';
import { registerShardsCommands } from './shards.js';
import { registerTrain } from './train.js';


export function buildProgram(): Command {
  const program = new Command('declip')
    .description('DeCLIP for Node.js: WebDataset shards, worker-thread augmentation, TensorFlow.js training')
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();
  registerShardsCommands(program);
  registerBenchCommands(program);
  registerTrain(program);
  registerEval(program);
  registerDemo(program);
  registerExperiment(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof DeclipError) {
      process.stderr.write(`declip: ${err.name} [${err.code}]: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`declip: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
