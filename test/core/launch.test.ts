import t from 'tap';
import { resolveLaunch } from '../../core/launch.js';
import { resolveReadOptions } from '../../datasets/reader/options.js';
import { shardsForPass } from '../../datasets/reader/plan.js';

t.test('rank and world size from flags, then the launchers\' environment', async (t) => {
  t.same(resolveLaunch({}, {}), { rank: 0, worldSize: 1, source: 'default' });
  t.same(resolveLaunch({ rank: 2, worldSize: 4 }, { RANK: '1', WORLD_SIZE: '8' }), { rank: 2, worldSize: 4, source: 'flags' });
  t.same(resolveLaunch({}, { RANK: '3', WORLD_SIZE: '8', SLURM_PROCID: '1', SLURM_NTASKS: '2' }), { rank: 3, worldSize: 8, source: 'RANK' });
  t.same(resolveLaunch({ worldSize: 5 }, { JOB_COMPLETION_INDEX: '4' }), { rank: 4, worldSize: 5, source: 'JOB_COMPLETION_INDEX' });
  t.same(resolveLaunch({}, { SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '4' }), { rank: 2, worldSize: 4, source: 'SLURM_ARRAY_TASK_ID' });
  t.same(resolveLaunch({}, { SLURM_PROCID: '1', SLURM_NTASKS: '2' }), { rank: 1, worldSize: 2, source: 'SLURM_PROCID' });
  t.same(resolveLaunch({}, { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '3' }), { rank: 0, worldSize: 3, source: 'OMPI_COMM_WORLD_RANK' });
  t.throws(() => resolveLaunch({}, { JOB_COMPLETION_INDEX: '1' }), { name: 'InvalidOptionError', field: '--world-size' });
  t.throws(() => resolveLaunch({ rank: 1 }, {}), { name: 'InvalidOptionError', field: '--world-size' });
  t.throws(() => resolveLaunch({ worldSize: 2 }, {}), { name: 'InvalidOptionError', field: '--rank' });
  t.throws(() => resolveLaunch({ rank: 4, worldSize: 4 }, {}), { name: 'InvalidOptionError', field: '--rank' });
  t.throws(() => resolveLaunch({}, { RANK: '2', WORLD_SIZE: '2' }), { name: 'InvalidOptionError', field: 'RANK' });
  t.throws(() => resolveLaunch({}, { RANK: 'x' }), { name: 'InvalidOptionError', field: 'RANK' });
  t.throws(() => resolveLaunch({}, { RANK: '0' }), { name: 'InvalidOptionError', field: 'WORLD_SIZE' });
});

t.test('the reader\'s rank/worldSize split reads the same launch environment as ingestion', async (t) => {
  const envs: NodeJS.ProcessEnv[] = [
    {},
    { RANK: '3', WORLD_SIZE: '8' },
    { SLURM_PROCID: '1', SLURM_NTASKS: '2' },
    { OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '3' },
  ];
  for (const env of envs) {
    const launch = resolveLaunch({}, env);
    const o = resolveReadOptions({ urls: 's-{0..9}.tar' }, env);
    t.same({ rank: o.rank, worldSize: o.worldSize }, { rank: launch.rank, worldSize: launch.worldSize }, `same place for ${launch.source}`);
  }
  // Job indices (a Kubernetes Indexed Job, a Slurm job array) number independent jobs - a
  // sweep reads all the data in every job - so the reader ignores them; ingestion uses them.
  for (const env of [{ JOB_COMPLETION_INDEX: '3' }, { SLURM_ARRAY_TASK_ID: '12', SLURM_ARRAY_TASK_MIN: '10', SLURM_ARRAY_TASK_COUNT: '4' }]) {
    const o = resolveReadOptions({ urls: 's-{0..9}.tar' }, env);
    t.same([o.rank, o.worldSize], [0, 1], `reader ignores ${Object.keys(env)[0]}`);
    t.not(resolveLaunch({ worldSize: 4 }, env).source, 'default', `ingestion uses ${Object.keys(env)[0]}`);
  }
  // Inside an array job, the ranks of its process group still split the shards.
  const inArray = resolveReadOptions({ urls: 's-{0..9}.tar' }, { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4', SLURM_PROCID: '1', SLURM_NTASKS: '2' });
  t.same([inArray.rank, inArray.worldSize], [1, 2]);
  // Rank 1 of a Slurm job of 2 reads the odd shards, the ones ingestion's rank 1 writes (n % 2 === 1).
  const slurm = resolveReadOptions({ urls: 's-{0..5}.tar' }, { SLURM_PROCID: '1', SLURM_NTASKS: '2' });
  t.same(shardsForPass({ ...slurm, shuffleShards: false }, 0, 0), ['s-1.tar', 's-3.tar', 's-5.tar']);
  // Explicit options win; errors name the option, not a CLI flag.
  t.same([resolveReadOptions({ urls: 'a.tar', rank: 0, worldSize: 2 }, { RANK: '1', WORLD_SIZE: '2' }).rank], [0]);
  t.throws(() => resolveReadOptions({ urls: 'a.tar', rank: 1 }, {}), { name: 'InvalidOptionError', field: 'worldSize' });
  t.throws(() => resolveReadOptions({ urls: 'a.tar', worldSize: 2 }, {}), { name: 'InvalidOptionError', field: 'rank' });
  t.throws(() => resolveReadOptions({ urls: 'a.tar', rank: 1.5, worldSize: 2 }), { name: 'InvalidOptionError', field: 'rank' });
});
