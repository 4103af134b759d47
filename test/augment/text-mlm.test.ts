import t from 'tap';
import { Rng } from '../../core/rng.js';
import {
  EOT_ID,
  IGNORE_LABEL,
  MASK_ID,
  NUM_SPECIAL_TOKENS,
  PAD_ID,
  SOT_ID,
  maskTokens,
  resolveMlmOptions,
} from '../../augment/text/index.js';

const VOCAB = 5004;
const config = resolveMlmOptions({}, VOCAB);

/** A row [SOT] w... [EOT] [PAD]... with `words` random word ids (>= 4). */
function row(rng: Rng, words: number, length: number): Int32Array {
  const r = new Int32Array(length);
  r[0] = SOT_ID;
  for (let i = 1; i <= words; i++) r[i] = NUM_SPECIAL_TOKENS + rng.int(VOCAB - NUM_SPECIAL_TOKENS);
  r[words + 1] = EOT_ID;
  return r; // the rest is PAD (0)
}

t.test('chooses 15% of word tokens, then 80% [MASK] / 10% random / 10% kept', async (t) => {
  const data = new Rng(1);
  const rng = new Rng(2);
  let words = 0;
  let chosen = 0;
  let masked = 0;
  let randomised = 0;
  let kept = 0;
  let specialsTouched = 0;
  for (let r = 0; r < 2000; r++) {
    const ids = row(data, 60, 77);
    const out = maskTokens(ids, rng, config);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const label = out.labels[i] as number;
      const m = out.tokensMasked[i] as number;
      if (id < NUM_SPECIAL_TOKENS) {
        if (label !== IGNORE_LABEL || m !== id) specialsTouched++;
        continue;
      }
      words++;
      if (label === IGNORE_LABEL) {
        if (m !== id) t.fail(`unchosen position ${i} changed`);
        continue;
      }
      if (label !== id) t.fail(`label at ${i} is not the original id`);
      chosen++;
      if (m === MASK_ID) masked++;
      else if (m === id) kept++;
      else {
        randomised++;
        if (m < NUM_SPECIAL_TOKENS || m >= VOCAB) t.fail(`random id ${m} is a special or out of range`);
      }
    }
  }
  t.equal(specialsTouched, 0, 'specials ([SOT], [EOT], [PAD]) are never chosen or changed');
  const rate = chosen / words;
  t.ok(Math.abs(rate - 0.15) < 0.01, `chosen ${rate.toFixed(4)} of ${words} word tokens ~ 0.15`);
  t.ok(Math.abs(masked / chosen - 0.8) < 0.02, `[MASK] ${(masked / chosen).toFixed(4)} ~ 0.8`);
  t.ok(Math.abs(randomised / chosen - 0.1) < 0.02, `random ${(randomised / chosen).toFixed(4)} ~ 0.1`);
  t.ok(Math.abs(kept / chosen - 0.1) < 0.02, `kept ${(kept / chosen).toFixed(4)} ~ 0.1`);
});

t.test('every caption with a word token gets at least one chosen position', async (t) => {
  const data = new Rng(3);
  for (let seed = 0; seed < 300; seed++) {
    const ids = row(data, 1 + (seed % 4), 16);
    const out = maskTokens(ids, new Rng(seed), config);
    t.ok(out.chosen >= 1, `seed ${seed}: ${out.chosen} chosen`);
    t.equal(Array.from(out.labels).filter((l) => l !== IGNORE_LABEL).length, out.chosen);
  }
  const specialsOnly = Int32Array.from([SOT_ID, EOT_ID, PAD_ID, PAD_ID]);
  const out = maskTokens(specialsOnly, new Rng(1), config);
  t.equal(out.chosen, 0, 'a row without word tokens has none chosen');
  t.same(Array.from(out.labels), [IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL]);
  t.same(Array.from(out.tokensMasked), Array.from(specialsOnly));
  const off = resolveMlmOptions({ ensureOne: false }, VOCAB);
  let empty = 0;
  for (let seed = 0; seed < 200; seed++) if (maskTokens(row(data, 1, 8), new Rng(seed), off).chosen === 0) empty++;
  t.ok(empty > 100, `without ensureOne a one-word caption is usually unchosen (${empty}/200)`);
});

t.test('deterministic from the Rng, and writes in place at an offset', async (t) => {
  const ids = row(new Rng(4), 30, 40);
  const a = maskTokens(ids, new Rng(9), config);
  const b = maskTokens(ids, new Rng(9), config);
  t.same(a, b);
  const c = maskTokens(ids, new Rng(10), config);
  t.not(Array.from(c.labels).join(), Array.from(a.labels).join(), 'another seed chooses other positions');

  const tokensMasked = new Int32Array(3 * 40).fill(7);
  const labels = new Int32Array(3 * 40).fill(7);
  const res = maskTokens(ids, new Rng(9), config, { tokensMasked, labels, offset: 40 });
  t.equal(res.tokensMasked, tokensMasked, 'returns the caller arrays');
  t.same(Array.from(tokensMasked.subarray(40, 80)), Array.from(a.tokensMasked));
  t.same(Array.from(labels.subarray(40, 80)), Array.from(a.labels));
  t.ok(tokensMasked.subarray(0, 40).every((v) => v === 7) && tokensMasked.subarray(80).every((v) => v === 7), 'nothing else written');
  t.ok(labels.subarray(0, 40).every((v) => v === 7) && labels.subarray(80).every((v) => v === 7));
});

t.test('options are validated with the house message', async (t) => {
  t.throws(() => resolveMlmOptions({ maskProbability: 2 }, VOCAB), {
    message: 'Expected number between 0 and 1 for maskProbability but received 2 of type number',
  });
  t.throws(() => resolveMlmOptions({ maskTokenFraction: 0.8, randomTokenFraction: 0.3 }, VOCAB), {
    message: /Expected number of at most 1 - maskTokenFraction .* for randomTokenFraction but received 0.3 of type number/,
  });
  t.throws(() => resolveMlmOptions({}, 4), { message: 'Expected integer of at least 5 for vocabSize but received 4 of type number' });
  t.throws(() => resolveMlmOptions({ ensureOne: 'yes' as unknown as boolean }, VOCAB), { message: /for ensureOne/ });
  const none = resolveMlmOptions({ maskProbability: 0, ensureOne: false }, VOCAB);
  const ids = row(new Rng(5), 20, 30);
  const out = maskTokens(ids, new Rng(1), none);
  t.equal(out.chosen, 0, 'probability 0 chooses nothing');
  t.same(Array.from(out.tokensMasked), Array.from(ids));
});
