/**
 * Training metrics as JSON lines (`RUN/metrics.jsonl`), one line per optimizer step,
 * written with a synchronous append so each line is on disk before the next step starts
 * (a SIGKILL loses at most the step in flight).
 *
 * A resumed run appends to the same file and repeats the steps after its checkpoint:
 * a later line for a step supersedes an earlier one. {@link readMetrics} applies that rule;
 * any other reader must too.
 *
 * @example
 * ```ts
 * const log = MetricsLog.open(join(runDir, 'metrics.jsonl'));
 * log.write({ step: 1, loss: 4.2, clip: 4.1, nns: 4.3, simsiam: -0.1, mlm: 9.8, lr: 1e-4, logitScale: 14.3, samplesPerSecond: 12, dataWaitMs: 3 });
 * log.close();
 * const rows = await readMetrics(join(runDir, 'metrics.jsonl')); // deduplicated, by step
 * ```
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One line of metrics.jsonl. Loss terms a mode does not compute are 0. */
export interface StepMetrics {
  /** 1-based optimizer step. */
  readonly step: number;
  /** Weighted total loss. */
  readonly loss: number;
  /** Contrastive term (MVS mean over view pairs in declip mode; one pair in clip mode), unweighted. */
  readonly clip: number;
  /** Nearest-neighbour term, unweighted. */
  readonly nns: number;
  /** SimSiam term, unweighted. */
  readonly simsiam: number;
  /** MLM term, unweighted. */
  readonly mlm: number;
  readonly lr: number;
  /** exp(logit_scale), the softmax temperature's inverse. */
  readonly logitScale: number;
  readonly samplesPerSecond: number;
  /** Time the step waited for its batch, ms. */
  readonly dataWaitMs: number;
  /** Anything else (stepMs, gradNorm, epoch, ...). */
  readonly [key: string]: number | string | boolean | null | undefined;
}

export class MetricsLog {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Open `path` for appending (created with its folder when missing). */
  static open(path: string): MetricsLog {
    mkdirSync(dirname(path), { recursive: true });
    return new MetricsLog(path, openSync(path, 'a'));
  }

  /** Append one line (synchronously: on disk when this returns). */
  write(row: StepMetrics | Readonly<Record<string, unknown>>): void {
    if (this.#fd === undefined) throw new Error(`MetricsLog ${this.path}: write after close()`);
    writeSync(this.#fd, JSON.stringify(row) + '\n');
  }

  /** Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * Parse metrics JSON lines: rows with a numeric `step`, a later line for a step replacing
 * an earlier one, sorted by step. Lines that are not JSON objects (a line cut by a crash)
 * and event lines without `step` are ignored.
 */
export function parseMetrics(text: string): StepMetrics[] {
  const byStep = new Map<number, StepMetrics>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) continue;
    const step = (row as { step?: unknown }).step;
    if (typeof step !== 'number' || !Number.isInteger(step)) continue;
    byStep.set(step, row as StepMetrics);
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Read and {@link parseMetrics} a metrics file; `[]` when it does not exist. */
export async function readMetrics(path: string): Promise<StepMetrics[]> {
  try {
    return parseMetrics(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
