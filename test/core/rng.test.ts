import t from 'tap';
import { Rng, deriveSeed } from '../../core/rng.js';

t.test('same seed gives the same sequence; state() resumes it exactly', async (t) => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 10 }, () => a.uint32());
  t.same(Array.from({ length: 10 }, () => b.uint32()), xs);
  const snap = a.state();
  const ahead = Array.from({ length: 5 }, () => a.next());
  const resumed = new Rng(snap);
  t.same(Array.from({ length: 5 }, () => resumed.next()), ahead);
  t.not(new Rng(43).uint32(), new Rng(42).uint32());
});

t.test('next() is uniform in [0,1) and int(n) is in range and roughly uniform', async (t) => {
  const rng = new Rng(7);
  const counts = new Array<number>(10).fill(0);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) {
    const x = rng.next();
    if (!(x >= 0 && x < 1)) t.fail(`out of range: ${x}`);
    sum += x;
    const k = rng.int(10);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  t.ok(Math.abs(sum / 100_000 - 0.5) < 0.01, 'mean near 0.5');
  for (const c of counts) t.ok(Math.abs(c - 10_000) < 500, `bucket count ${c} near 10000`);
  t.throws(() => rng.int(0), RangeError);
});

t.test('normal() has mean 0 and variance 1', async (t) => {
  const rng = new Rng(3);
  let s = 0, s2 = 0;
  const n = 50_000;
  for (let i = 0; i < n; i++) { const z = rng.normal(); s += z; s2 += z * z; }
  t.ok(Math.abs(s / n) < 0.02);
  t.ok(Math.abs(s2 / n - 1) < 0.03);
});

t.test('shuffle is a permutation and depends on the seed', async (t) => {
  const xs = Array.from({ length: 50 }, (_, i) => i);
  const a = new Rng(1).shuffle([...xs]);
  t.same([...a].sort((p, q) => p - q), xs);
  t.same(new Rng(1).shuffle([...xs]), a);
  t.notSame(new Rng(2).shuffle([...xs]), a);
});

t.test('deriveSeed separates parts and is stable', async (t) => {
  t.equal(deriveSeed(1, 'a'), deriveSeed(1, 'a'));
  t.not(deriveSeed('ab', 'c'), deriveSeed('a', 'bc'));
  t.not(deriveSeed(1, 2), deriveSeed(2, 1));
  t.not(deriveSeed(0, 'k', 'view1'), deriveSeed(0, 'k', 'view2'));
  t.not(deriveSeed('1'), deriveSeed(1));
  t.equal(deriveSeed(5, 2 ** 40), deriveSeed(5, 2 ** 40));
  t.not(deriveSeed(2 ** 40), deriveSeed(0));
  const v = deriveSeed('x');
  t.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});
