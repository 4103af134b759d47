import t from 'tap';
import { resolveLaunch } from '../../core/launch.js';

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
