import t from 'tap';
import { normalizeRows, rankOf, similarity } from '../../trainer/eval/embeddings.js';
import { buildPrompts, classEmbeddings, DEFAULT_TEMPLATES, zeroShotAccuracy } from '../../trainer/eval/zeroshot.js';
import { retrievalRecall } from '../../trainer/eval/retrieval.js';
import { linearProbe } from '../../trainer/eval/linear-probe.js';
import { Rng } from '../../core/rng.js';

t.test('normalizeRows, similarity and pessimistic ranks', async (t) => {
  t.same(Array.from(normalizeRows(new Float32Array([3, 4, 0, 0]), 2)), [Math.fround(0.6), Math.fround(0.8), 0, 0]);
  t.throws(() => normalizeRows(new Float32Array(3), 2), /multiple/);
  t.same(Array.from(similarity(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 2]), 2)), [1, 2]);
  const scores = new Float32Array([0.5, 0.5, 0.1]);
  t.equal(rankOf(scores, 3, 0, 0), 1, 'a tie counts against the target');
  t.equal(rankOf(scores, 3, 0, 2), 2);
  t.equal(rankOf(new Float32Array([0.9, 0.5, 0.1]), 3, 0, 0), 0);
});

t.test('prompts are class-major and class embeddings average normalised prompts', async (t) => {
  t.same(buildPrompts(['cat', 'dog'], ['a {}.', 'the {} and {}', 'photo']), ['a cat.', 'the cat and cat', 'photo cat', 'a dog.', 'the dog and dog', 'photo dog']);
  t.ok(DEFAULT_TEMPLATES.every((s) => s.includes('{}')));
  // Class 0's prompts: (2,0) and (0,1) -> unit (1,0),(0,1) -> mean (.5,.5) -> (0.7071, 0.7071).
  // Class 1's prompts: (0,-5) twice -> (0,-1).
  const emb = classEmbeddings(new Float32Array([2, 0, 0, 1, 0, -5, 0, -5]), 2, 2, 2);
  const r = Math.SQRT1_2;
  t.ok(Math.abs(emb[0]! - r) < 1e-6 && Math.abs(emb[1]! - r) < 1e-6);
  t.same(Array.from(emb.subarray(2)), [0, -1]);
  t.throws(() => classEmbeddings(new Float32Array(7), 2, 2, 2), /expected 2x2x2/);
});

t.test('zero-shot accuracy on constructed embeddings with known answers', async (t) => {
  // 8 classes along the axes of R^8; image i points mostly at class (i % 8).
  const d = 8;
  const classEmb = new Float32Array(d * d);
  for (let c = 0; c < d; c++) classEmb[c * d + c] = 1;
  const n = 40;
  const images = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % d;
    images[i * d + c] = 1;
    images[i * d + ((c + 1) % d)] = 0.5 + 0.01 * i; // second-best class is c+1
    // Labels: the first 10 images are labelled with their second-best class (top-1 wrong, top-5 right),
    // images 10..14 with the class opposite (score 0: rank >= 5 because 6 classes tie at 0).
    labels[i] = i < 10 ? (c + 1) % d : i < 15 ? (c + 4) % d : c;
  }
  const res = zeroShotAccuracy(images, labels, classEmb, d);
  t.equal(res.n, 40);
  t.equal(res.top1, 25 / 40);
  t.equal(res.top5, 35 / 40);
  const unlabelled = zeroShotAccuracy(images, Int32Array.from(labels, (y, i) => (i < 20 ? -1 : y)), classEmb, d);
  t.equal(unlabelled.n, 20);
  t.equal(unlabelled.top1, 1);
  const constant = zeroShotAccuracy(new Float32Array(n * d).fill(1), labels, classEmb.fill(1), d);
  t.equal(constant.top1, 0, 'a model that scores every class the same gets nothing right');
  t.same(zeroShotAccuracy(new Float32Array(0), [], new Float32Array(d), d), { top1: 0, top5: 0, n: 0 });
});

t.test('retrieval recall on constructed embeddings with known answers', async (t) => {
  const d = 16;
  const n = 20;
  const rng = new Rng(3);
  const img = Float32Array.from({ length: n * d }, () => rng.normal());
  const perfect = retrievalRecall(img, img, d);
  t.same(perfect, { i2t: { r1: 1, r5: 1, r10: 1 }, t2i: { r1: 1, r5: 1, r10: 1 }, n });
  // Text i is a scaled copy of image i for i < 10; texts 10..19 are copies of image 0 (so they all tie).
  const txt = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) txt[i * d + j] = 2 * img[(i < 10 ? i : 0) * d + j]!;
  const r = retrievalRecall(img, txt, d);
  t.equal(r.t2i.r1, 10 / n, 'text->image: texts 10..19 find image 0, not their own');
  t.equal(r.i2t.r1, 9 / 20, 'image->text: image 0 ties with 10 copies; images 10..19 cannot match exactly');
  t.ok(r.i2t.r10 >= r.i2t.r5 && r.i2t.r5 >= r.i2t.r1);
  t.throws(() => retrievalRecall(img, img.subarray(0, d), d), /20 images but 1 texts/);
});

t.test('linear probe separates separable classes and is deterministic', async (t) => {
  const d = 5;
  const rng = new Rng(11);
  const centres = [[3, 0, 0, 0, 0], [0, 3, 0, 0, 0], [0, 0, 3, 0, 0]];
  const make = (n: number) => {
    const x = new Float32Array(n * d);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 3;
      for (let j = 0; j < d; j++) x[i * d + j] = centres[i % 3]![j]! + 0.3 * rng.normal();
    }
    return { x, y };
  };
  const train = make(60);
  const test = make(30);
  const a = linearProbe(train, test, d, { iterations: 50 });
  t.equal(a.top1, 1);
  t.equal(a.trainTop1, 1);
  t.equal(a.n, 30);
  const b = linearProbe(train, test, d, { iterations: 50 });
  t.same(a, b, 'same inputs, same result');
  // Labels unrelated to the features: test accuracy stays near chance.
  const noise = { x: test.x, y: Int32Array.from({ length: 30 }, () => rng.int(3)) };
  const chance = linearProbe({ x: train.x, y: Int32Array.from({ length: 60 }, () => rng.int(3)) }, noise, d, { iterations: 50 });
  t.ok(chance.top1 < 0.7, `chance-level accuracy ${chance.top1}`);
  const zero = linearProbe(train, test, d, { iterations: 0 });
  t.ok(Math.abs(zero.loss - Math.log(3)) < 1e-9, 'zero iterations = zero weights = log C');
  t.throws(() => linearProbe(train, test, d, { l2: -1 }), /l2/);
});
