import t from 'tap';
import { meanSd, pairedTTest, welchTTest } from '../../../trainer/experiment/stats.js';
import { resolveTrainConfig } from '../../../trainer/config.js';
import type { EXPERIMENT_ROWS} from '../../../trainer/experiment/rows.js';
import { rowConfig } from '../../../trainer/experiment/rows.js';
import { dataEfficiency, summariseSize, type ExperimentRun } from '../../../trainer/experiment/summary.js';
import type { RunScores } from '../../../trainer/experiment/evaluate.js';

t.test('meanSd: mean and sample sd', async (t) => {
  t.same(meanSd([1, 2, 3]), { mean: 2, sd: 1 });
  t.same(meanSd([0.5]), { mean: 0.5, sd: 0 });
});

t.test('pairedTTest: t and the two-sided p of Student t tables', async (t) => {
  // Differences 1, 2, 3, 4, 5 + c: mean 3 + c, sd sqrt(2.5); t = (3 + c) / (sd / sqrt 5).
  // The two-sided 5% critical value of t with 4 df is 2.7764, so c = 2.7764 * sqrt(0.5) - 3 gives p = 0.05.
  const c = 2.776445 * Math.sqrt(0.5) - 3;
  const a = [1, 2, 3, 4, 5].map((x) => x + c + 10);
  const r = pairedTTest(a, [10, 10, 10, 10, 10]);
  t.equal(r.n, 5);
  t.equal(r.df, 4);
  t.ok(Math.abs(r.t - 2.776445) < 1e-6, `t ${r.t}`);
  t.ok(Math.abs(r.p - 0.05) < 1e-6, `p ${r.p}`);
  t.equal(r.ahead, 4, "the first difference, 1 + c, is below 0");
  // The docs' 3-seed Fashion-MNIST numbers: p 0.345 (two-sided, 2 df).
  t.ok(Math.abs(pairedTTest([0.572, 0.573, 0.58], [0.569, 0.502, 0.573]).p - 0.345) < 0.001);
  // Symmetric: swapping the rows flips t, keeps p.
  const s = pairedTTest([10, 10, 10, 10, 10], a);
  t.ok(Math.abs(s.t + r.t) < 1e-9 && Math.abs(s.p - r.p) < 1e-12);
  t.ok(Number.isNaN(pairedTTest([1], [0]).p), 'one pair: no test');
  t.equal(pairedTTest([1, 2], [0, 1]).p, 0, 'identical non-zero differences');
  t.equal(pairedTTest([1, 2], [1, 2]).p, 1, 'no difference');
  t.throws(() => pairedTTest([1, 2], [1]), RangeError);
});

t.test("welchTTest: t, Welch-Satterthwaite df and the two-sided p of scipy's ttest_ind(equal_var=False)", async (t) => {
  // scipy.stats.ttest_ind([1,2,3,4,5], [2,4,6,8,10], equal_var=False): t -1.8973665961, df 5.8823529412, p 0.1075311949.
  const r = welchTTest([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]);
  t.same([r.na, r.nb, r.diff], [5, 5, -3]);
  t.ok(Math.abs(r.t + 1.8973665961) < 1e-9, `t ${r.t}`);
  t.ok(Math.abs(r.df - 5.8823529412) < 1e-9, `df ${r.df}`);
  t.ok(Math.abs(r.p - 0.1075311949) < 1e-6, `p ${r.p}`);
  t.ok(Number.isNaN(welchTTest([1], [0, 1]).p), 'one value on a side: no test');
  t.equal(welchTTest([1, 1], [0, 0]).p, 0, 'no spread, different means');
  t.equal(welchTTest([1, 1], [1, 1]).p, 1, 'no spread, same means');
});

t.test('rowConfig: each ablation row switches only the loss (and clip-2x the steps)', async (t) => {
  const base = { model: 'tiny', loss: { queueSize: 256 } } as const;
  const cfg = (row: (typeof EXPERIMENT_ROWS)[number]) => resolveTrainConfig({ ...rowConfig(row, base, 50), batch: 8 });
  const clip = cfg('clip');
  t.same([clip.mode, clip.steps, clip.loss.weights, clip.loss.imageViews, clip.loss.textViews], ['clip', 50, { clip: 1, nns: 0, simsiam: 0, mlm: 0 }, 1, 1]);
  const ss = cfg('clip+ss');
  t.same([ss.mode, ss.loss.weights, ss.loss.imageViews, ss.loss.textViews, ss.loss.multiView, ss.loss.queueSize], ['declip', { clip: 0.4, nns: 0, simsiam: 0.2, mlm: 0.2 }, 2, 1, false, 256]);
  const mvs = cfg('clip+ss+mvs');
  t.same([mvs.loss.weights, mvs.loss.imageViews, mvs.loss.textViews, mvs.loss.multiView ?? true], [{ clip: 0.4, nns: 0, simsiam: 0.2, mlm: 0.2 }, 2, 2, true]);
  const declip = cfg('declip');
  t.same([declip.mode, declip.loss.weights, declip.loss.multiView ?? true], ['declip', { clip: 0.4, nns: 0.2, simsiam: 0.2, mlm: 0.2 }, true]);
  const twice = cfg('clip-2x');
  t.same([twice.mode, twice.steps], ['clip', 100]);
});

function scores(zs: number, probe: number): RunScores {
  const task = { zeroShotTop1: zs, zeroShotTop5: 1, linearProbe: probe, probeL2: 0.01, valZeroShotTop1: zs, valLinearProbe: probe };
  return { ...task, i2tR1: 0.1, i2tR5: 0.2, t2iR1: 0.1, t2iR5: 0.2, n: 10, retrievalN: 10, tasks: { class: task } };
}
const run = (row: ExperimentRun['row'], seed: number, trainPairs: number, zs: number, probe = 0.5): ExperimentRun => ({
  row, seed, trainPairs, dir: '', steps: 1, plannedSteps: 1, stopped: 'completed', seconds: 1, scores: scores(zs, probe), reused: false,
});

t.test('summariseSize: means, sds, per-seed values and paired tests against CLIP (and DeCLIP against clip-2x)', async (t) => {
  const runs = [run('clip', 0, 100, 0.2), run('declip', 0, 100, 0.3), run('clip', 1, 100, 0.4), run('declip', 1, 100, 0.6), run('clip-2x', 0, 100, 0.25), run('clip-2x', 1, 100, 0.45), run('clip', 0, 200, 0.9)];
  const s = summariseSize(runs, 100, ['clip', 'declip', 'clip-2x']);
  t.equal(s.trainPairs, 100);
  t.ok(Math.abs((s.rows.clip?.zeroShotTop1 ?? 0) - 0.3) < 1e-12);
  t.ok(Math.abs((s.rows.declip?.sd.zeroShotTop1 ?? 0) - Math.SQRT2 * 0.15) < 1e-12);
  t.same(s.rows.declip?.perSeed.map((p) => p.seed), [0, 1]);
  t.same(s.paired.map((p) => [p.row, p.baseline]), [['declip', 'clip'], ['clip-2x', 'clip'], ['declip', 'clip-2x']]);
  const d = s.paired[0];
  t.ok(Math.abs((d?.zeroShotTop1.mean ?? 0) - 0.15) < 1e-12);
  t.equal(d?.zeroShotTop1.ahead, 2);
  const curve = [s, summariseSize(runs, 200, ['clip', 'declip'])];
  t.same(dataEfficiency(curve).map((e) => e.trainPairs), [100]);
  t.ok(Math.abs((dataEfficiency(curve)[0]?.clipOn2x ?? 0) - 0.9) < 1e-12);
  // DeCLIP's two seeds (0.3, 0.6) against CLIP-on-2N's one (0.9): the difference, and no test with one value.
  t.ok(Math.abs((dataEfficiency(curve)[0]?.test.diff ?? 0) + 0.45) < 1e-12);
  t.ok(Number.isNaN(dataEfficiency(curve)[0]?.test.p));
});
