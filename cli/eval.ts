/**
 * `declip eval zeroshot|retrieval|linear-probe`: evaluate a checkpoint on labelled or
 * paired shards, with the evaluation image transform (resize, centre crop, normalise).
 *
 * Contract (with `--json`, the last line of stdout):
 * - `zeroshot --checkpoint DIR --shards URL [--classes FILE] [--templates FILE]`:
 *   `{"top1": x, "top5": y, "n": N}` (fractions 0..1). Class names come from the shards'
 *   index sidecar (`classes`) unless `--classes` gives a file (one name per line, or a
 *   JSON array); templates default to a CLIP ensemble (`{}` = class name; a file has one
 *   template per line).
 * - `retrieval --checkpoint DIR --shards URL`: `{"i2t": {"r1","r5","r10"}, "t2i": {...}, "n": N}`.
 * - `linear-probe --checkpoint DIR --train URL --test URL`: `{"top1": x, "n": N}`.
 * `--checkpoint` takes a run folder (its newest checkpoint) or a `step-*` folder.
 */
import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { ConfigError, InvalidOptionError } from '../core/errors.js';
import { expectInteger } from '../core/validate.js';
import { readShardIndex } from '../datasets/shard-index.js';
import { BACKEND_NAMES, type BackendChoice, selectBackend } from '../trainer/backend/select.js';
import { embedShards, encodeTexts, type EvalModel, loadEvalModel } from '../trainer/eval/embed.js';
import { linearProbe, type LinearProbeResult } from '../trainer/eval/linear-probe.js';
import { retrievalRecall, type RetrievalResult } from '../trainer/eval/retrieval.js';
import { buildPrompts, classEmbeddings, DEFAULT_TEMPLATES, zeroShotAccuracy, type ZeroShotResult } from '../trainer/eval/zeroshot.js';
import { allowPipeFromFilesOption, onShardErrorOption } from './reliability-options.js';

export interface EvalCommonOptions {
  readonly checkpoint: string;
  readonly json?: boolean;
  readonly backend?: BackendChoice;
  readonly workers?: string | number;
  readonly limit?: string | number;
  readonly batch?: string | number;
  /** A shard that cannot be opened: throw (default), warn, skip. */
  readonly onShardError?: 'throw' | 'warn' | 'skip';
  /** Trust the shard index's entries (pipe:, outside its folder). */
  readonly allowPipeFromFiles?: boolean;
}

export interface ZeroShotCommandOptions extends EvalCommonOptions {
  readonly shards: string;
  readonly classes?: string;
  readonly templates?: string;
}

export interface ProbeCommandOptions extends EvalCommonOptions {
  readonly train: string;
  readonly test: string;
}

/** Where the commands write (process streams by default; tests and the demo pass their own). */
export interface EvalIO {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const processIO: EvalIO = {
  out: (line) => void process.stdout.write(line + '\n'),
  err: (line) => void process.stderr.write(`declip: ${line}\n`),
};

function optInt(name: string, value: string | number | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  return expectInteger(name, n, min);
}

/** Lines of a text file (trimmed, blank lines and `#` comments dropped), or a JSON array of strings. */
export async function readNameList(path: string, what: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(what, `Cannot read ${what} file ${path}`, { cause: err });
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((x): x is string => typeof x === 'string')) {
      throw new InvalidOptionError(what, `Expected a JSON array of strings in ${path}`);
    }
    return parsed;
  }
  const names = trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (names.length === 0) throw new InvalidOptionError(what, `${path} holds no ${what}`);
  return names;
}

/** Class names of labelled shards: `--classes FILE` or the index sidecar's `classes`. */
export async function classNamesFor(shards: string, classesFile?: string, allowPipeFromFiles = false): Promise<string[]> {
  if (classesFile !== undefined) return readNameList(classesFile, 'classes');
  const found = await readShardIndex(shards, { allowPipeFromFiles });
  const classes = found?.index.classes;
  if (classes === undefined || classes.length === 0) {
    throw new ConfigError(`No class names for ${shards}: the shard index ${found?.indexUrl ?? '(none found)'} has no "classes"; pass --classes FILE`, { path: 'classes' });
  }
  return [...classes];
}

async function withModel<T>(opts: EvalCommonOptions, io: EvalIO, run: (ev: EvalModel) => Promise<T>): Promise<T> {
  await selectBackend({ backend: opts.backend ?? 'auto', log: io.err });
  const ev = await loadEvalModel(opts.checkpoint);
  io.err(`eval: ${ev.checkpoint} (step ${ev.step})`);
  try {
    return await run(ev);
  } finally {
    ev.dispose();
  }
}

function embedOptions(opts: EvalCommonOptions): { workers?: number; limit?: number; batch?: number; onShardError?: 'throw' | 'warn' | 'skip' } {
  const workers = optInt('--workers', opts.workers, 1);
  const limit = optInt('--limit', opts.limit, 1);
  const batch = optInt('--batch', opts.batch, 1);
  return {
    ...(workers === undefined ? {} : { workers }),
    ...(limit === undefined ? {} : { limit }),
    ...(batch === undefined ? {} : { batch }),
    ...(opts.onShardError === undefined ? {} : { onShardError: opts.onShardError }),
  };
}

/** Zero-shot top-1/top-5 of a loaded model on labelled shards. */
export async function zeroShotEval(
  ev: EvalModel,
  shards: string,
  classNames: readonly string[],
  templates: readonly string[] = DEFAULT_TEMPLATES,
  options: { workers?: number; limit?: number; batch?: number; onShardError?: 'throw' | 'warn' | 'skip' } = {},
): Promise<ZeroShotResult> {
  const data = await embedShards(ev, { shards, ...options });
  const textEmb = await encodeTexts(ev, buildPrompts(classNames, templates));
  const classEmb = classEmbeddings(textEmb, classNames.length, templates.length, data.d);
  return zeroShotAccuracy(data.image, data.labels, classEmb, data.d);
}

export async function runZeroShotCommand(opts: ZeroShotCommandOptions, io: EvalIO = processIO): Promise<ZeroShotResult> {
  const classNames = await classNamesFor(opts.shards, opts.classes, opts.allowPipeFromFiles === true);
  const templates = opts.templates === undefined ? DEFAULT_TEMPLATES : await readNameList(opts.templates, 'templates');
  const result = await withModel(opts, io, (ev) => zeroShotEval(ev, opts.shards, classNames, templates, embedOptions(opts)));
  const text = `zero-shot: top-1 ${(100 * result.top1).toFixed(2)}%, top-5 ${(100 * result.top5).toFixed(2)}% on ${result.n} images, ${classNames.length} classes, ${templates.length} templates`;
  io.out(opts.json === true ? JSON.stringify({ top1: result.top1, top5: result.top5, n: result.n }) : text);
  if (opts.json === true) io.err(text);
  return result;
}

export async function runRetrievalCommand(opts: EvalCommonOptions & { readonly shards: string }, io: EvalIO = processIO): Promise<RetrievalResult> {
  const result = await withModel(opts, io, async (ev) => {
    const data = await embedShards(ev, { shards: opts.shards, ...embedOptions(opts) });
    return retrievalRecall(data.image, data.text, data.d);
  });
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const text = `retrieval on ${result.n} pairs: image->text R@1 ${pct(result.i2t.r1)} R@5 ${pct(result.i2t.r5)} R@10 ${pct(result.i2t.r10)}; text->image R@1 ${pct(result.t2i.r1)} R@5 ${pct(result.t2i.r5)} R@10 ${pct(result.t2i.r10)}`;
  io.out(opts.json === true ? JSON.stringify(result) : text);
  if (opts.json === true) io.err(text);
  return result;
}

export async function runLinearProbeCommand(opts: ProbeCommandOptions, io: EvalIO = processIO): Promise<LinearProbeResult> {
  const result = await withModel(opts, io, async (ev) => {
    const train = await embedShards(ev, { shards: opts.train, ...embedOptions(opts) });
    const test = await embedShards(ev, { shards: opts.test, ...embedOptions(opts) });
    return linearProbe({ x: train.image, y: train.labels }, { x: test.image, y: test.labels }, train.d);
  });
  const text = `linear probe: top-1 ${(100 * result.top1).toFixed(2)}% on ${result.n} test images (train ${(100 * result.trainTop1).toFixed(2)}%)`;
  io.out(opts.json === true ? JSON.stringify({ top1: result.top1, n: result.n }) : text);
  if (opts.json === true) io.err(text);
  return result;
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption('--checkpoint <dir>', 'a run folder (newest checkpoint) or a checkpoint folder')
    .option('--json', 'print the result as one JSON line (the last line of stdout)')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(['auto', ...BACKEND_NAMES]).default('auto'))
    .option('--workers <n>', 'image decoding worker threads (default 2)')
    .option('--batch <n>', 'samples per forward pass (default 64)')
    .option('--limit <n>', 'evaluate at most N samples')
    .addOption(onShardErrorOption())
    .addOption(allowPipeFromFilesOption());
}

/** Register `declip eval zeroshot|retrieval|linear-probe`. */
export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('evaluate a checkpoint: zero-shot, retrieval, linear probe');
  common(evalCmd.command('zeroshot').description('zero-shot classification with a prompt-template ensemble'))
    .requiredOption('--shards <url>', 'labelled shards (cls)')
    .option('--classes <file>', 'class names, one per line (default: the shard index)')
    .option('--templates <file>', 'prompt templates, one per line, {} = class name')
    .action(async (opts: ZeroShotCommandOptions) => {
      await runZeroShotCommand(opts);
    });
  common(evalCmd.command('retrieval').description('image<->text recall@1/5/10 on held-out pairs'))
    .requiredOption('--shards <url>', 'image-caption shards')
    .action(async (opts: EvalCommonOptions & { shards: string }) => {
      await runRetrievalCommand(opts);
    });
  common(evalCmd.command('linear-probe').description('logistic regression on frozen image features'))
    .requiredOption('--train <url>', 'labelled training shards')
    .requiredOption('--test <url>', 'labelled test shards')
    .action(async (opts: ProbeCommandOptions) => {
      await runLinearProbeCommand(opts);
    });
}
