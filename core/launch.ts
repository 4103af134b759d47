/**
 * Where this process stands in a multi-process job: its rank and the world size, from
 * flags or, when they are absent, the environment the launcher sets.
 *
 * Order (the first that applies wins):
 * 1. `--rank R --world-size W` (flags);
 * 2. `RANK` / `WORLD_SIZE` (torchrun, and anyone who sets them by hand);
 * 3. `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job) with `--world-size` (the Job's
 *    `completions`; Kubernetes does not export it);
 * 4. `SLURM_ARRAY_TASK_ID` - `SLURM_ARRAY_TASK_MIN` / `SLURM_ARRAY_TASK_COUNT` (a Slurm
 *    job array, `sbatch --array=0-7`);
 * 5. `SLURM_PROCID` / `SLURM_NTASKS` (tasks of one Slurm job, `srun -n 8`);
 * 6. `OMPI_COMM_WORLD_RANK` / `OMPI_COMM_WORLD_SIZE` (Open MPI's `mpirun`);
 * 7. otherwise rank 0 of 1.
 *
 * Ingestion (`shards create --from urls`) and the shard reader's split
 * (`resolveReadOptions`) both use it, so one launcher environment makes the process
 * write and read the same share; `names` are the flag or option names its errors use.
 * The reader passes `{ jobIndices: false }`: a Kubernetes Indexed Job's or a Slurm job
 * array's index (3 and 4) numbers independent jobs - a unit of ingestion work, but for a
 * reader most often a sweep whose every job must see all the data - so there only the
 * ranks of one process group (2, 5, 6) split the shards.
 *
 * @example
 * ```ts
 * const { rank, worldSize, source } = resolveLaunch({}, process.env); // e.g. 3, 8, 'SLURM_ARRAY_TASK_ID'
 * ```
 */
import { InvalidOptionError } from './errors.js';

/** This process's place in the job. */
export interface LaunchPlace {
  readonly rank: number;
  readonly worldSize: number;
  /** What decided it: `flags`, an environment variable name, or `default`. */
  readonly source: string;
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new InvalidOptionError(name, `the environment variable ${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v.trim());
}

function checked(rank: number, worldSize: number, source: string, rankName: string, worldName: string): LaunchPlace {
  if (worldSize < 1) throw new InvalidOptionError(worldName, `${worldName} must be at least 1, got ${worldSize}`);
  if (rank >= worldSize) throw new InvalidOptionError(rankName, `${rankName} ${rank} is not below ${worldName} ${worldSize}`);
  return { rank, worldSize, source };
}

/** How errors name the explicit rank and world size (CLI flags by default). */
export interface LaunchNames {
  readonly rank: string;
  readonly worldSize: string;
}

const FLAG_NAMES: LaunchNames = { rank: '--rank', worldSize: '--world-size' };

/** Which launcher variables count. */
export interface LaunchSources {
  /** `JOB_COMPLETION_INDEX` and `SLURM_ARRAY_TASK_*` (independent jobs of one array); default true. */
  readonly jobIndices?: boolean;
}

/** Resolve rank and world size (see the module notes). Throws `InvalidOptionError` naming the flag, option or variable. */
export function resolveLaunch(
  flags: { readonly rank?: number | undefined; readonly worldSize?: number | undefined },
  env: NodeJS.ProcessEnv = process.env,
  names: LaunchNames = FLAG_NAMES,
  sources: LaunchSources = {},
): LaunchPlace {
  const jobIndices = sources.jobIndices ?? true;
  const ws = names.worldSize;
  if (flags.rank !== undefined) {
    if (flags.worldSize === undefined) throw new InvalidOptionError(ws, `${names.rank} needs ${ws}`);
    return checked(flags.rank, flags.worldSize, 'flags', names.rank, ws);
  }
  const rank = envInt(env, 'RANK');
  if (rank !== undefined) {
    const world = flags.worldSize ?? envInt(env, 'WORLD_SIZE');
    if (world === undefined) throw new InvalidOptionError('WORLD_SIZE', `RANK is set but WORLD_SIZE is not (set it, or pass ${ws})`);
    return checked(rank, world, 'RANK', 'RANK', flags.worldSize === undefined ? 'WORLD_SIZE' : ws);
  }
  const index = jobIndices ? envInt(env, 'JOB_COMPLETION_INDEX') : undefined;
  if (index !== undefined) {
    if (flags.worldSize === undefined) {
      throw new InvalidOptionError(ws, `JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): pass ${ws} with the Job's completions`);
    }
    return checked(index, flags.worldSize, 'JOB_COMPLETION_INDEX', 'JOB_COMPLETION_INDEX', ws);
  }
  const arrayId = jobIndices ? envInt(env, 'SLURM_ARRAY_TASK_ID') : undefined;
  if (arrayId !== undefined) {
    const min = envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    const count = flags.worldSize ?? envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (count === undefined) throw new InvalidOptionError('SLURM_ARRAY_TASK_COUNT', `SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (pass ${ws})`);
    return checked(arrayId - min, count, 'SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT');
  }
  for (const [r, w] of [
    ['SLURM_PROCID', 'SLURM_NTASKS'],
    ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'],
  ] as const) {
    const rv = envInt(env, r);
    if (rv === undefined) continue;
    const wv = flags.worldSize ?? envInt(env, w);
    if (wv === undefined) throw new InvalidOptionError(w, `${r} is set but ${w} is not (pass ${ws})`);
    return checked(rv, wv, r, r, w);
  }
  if (flags.worldSize !== undefined && flags.worldSize > 1) {
    throw new InvalidOptionError(
      names.rank,
      `${ws} ${flags.worldSize} needs ${names.rank} (or a launcher's environment: RANK, JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, SLURM_PROCID, OMPI_COMM_WORLD_RANK)`,
    );
  }
  return checked(0, flags.worldSize ?? 1, flags.worldSize === undefined ? 'default' : 'flags', names.rank, ws);
}
