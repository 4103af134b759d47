import t from 'tap';
import { createRequire } from 'node:module';
import { Rng } from '../../core/rng.js';
import { InvalidOptionError } from '../../core/errors.js';
import {
  EDA_PRESETS,
  EDA_STOP_WORDS,
  WordNetSynonyms,
  applyEda,
  defaultWordNet,
  randomDeletion,
  randomInsertion,
  randomSwap,
  resolveEdaConfig,
  splitWords,
  synonymReplacement,
  type SynonymSource,
} from '../../augment/text/index.js';

const wordnet = defaultWordNet();
const noSynonyms: SynonymSource = { synonyms: () => [] };
const sorted = (words: readonly string[]): string[] => [...words].sort();

t.test('synonyms come from WordNet: "car" can become "automobile"', async (t) => {
  const syns = wordnet.synonyms('car');
  t.ok(syns.includes('automobile'), 'automobile is a WordNet synonym of car');
  t.ok(syns.includes('motorcar'));
  t.notOk(syns.includes('car'), 'never the word itself');
  const seen = new Set<string>();
  for (let seed = 0; seed < 200; seed++) seen.add(synonymReplacement(['a', 'car'], 1, new Rng(seed))[1] as string);
  t.ok(seen.has('automobile'), 'replacement draws automobile for some seed');
  t.ok([...seen].every((w) => syns.includes(w)), 'every replacement is a WordNet synonym');
  t.same(wordnet.synonyms('xyzzyqq'), [], 'unknown words have none');
  t.ok(wordnet.synonyms('dogs').includes('dog'), 'plurals are reduced like NLTK morphy');
});

t.test('the synchronous reader agrees with natural on WordNet synonyms', async (t) => {
  const require = createRequire(import.meta.url);
  const { WordNet } = require('natural/lib/natural/wordnet/index.js') as {
    WordNet: new () => { lookup(word: string, cb: (records: { synonyms: string[] }[]) => void): void };
  };
  const natural = new WordNet();
  const viaNatural = (word: string): Promise<string[]> =>
    new Promise((resolve) =>
      natural.lookup(word, (records) => {
        const out = new Set<string>();
        for (const r of records) {
          for (const raw of r.synonyms) {
            const s = raw.replace(/\([a-z]+\)$/u, '').replace(/[_-]/gu, ' ').toLowerCase().replace(/[^a-z ]/gu, '');
            if (s.trim() !== '' && s !== word) out.add(s);
          }
        }
        resolve([...out]);
      }),
    );
  // Words with no inflected reading, so natural (no morphy) and our reader look up the same lemmas.
  for (const word of ['car', 'beach', 'red', 'automobile']) {
    t.same(sorted(wordnet.synonyms(word)), sorted(await viaNatural(word)), word);
  }
});

t.test('synonym replacement never touches stop words and is deterministic', async (t) => {
  const words = splitWords('the dog is on the beach with a ball');
  for (let seed = 0; seed < 100; seed++) {
    const out = synonymReplacement(words, 1, new Rng(seed));
    t.equal(out.length, words.length);
    words.forEach((w, i) => {
      if (EDA_STOP_WORDS.has(w)) t.equal(out[i], w, `stop word "${w}" kept (seed ${seed})`);
    });
    t.same(synonymReplacement(words, 1, new Rng(seed)), out, 'same seed, same result');
  }
  const onlyStop = splitWords('it is in the of a');
  for (let seed = 0; seed < 20; seed++) t.same(synonymReplacement(onlyStop, 3, new Rng(seed)), onlyStop);
  const outcomes = new Set<string>();
  for (let seed = 0; seed < 50; seed++) outcomes.add(synonymReplacement(words, 1, new Rng(seed)).join(' '));
  t.ok(outcomes.size > 5, 'different seeds give different replacements');
});

t.test('synonym replacement keeps punctuation, replaces every occurrence, and handles edge cases', async (t) => {
  const stub: SynonymSource = { synonyms: (w) => (w === 'car' ? ['auto'] : []) };
  t.same(synonymReplacement(['a', 'car,', 'and', 'a', '(car)'], 1, new Rng(1), stub), ['a', 'auto,', 'and', 'a', '(auto)']);
  t.same(synonymReplacement([], 1, new Rng(1), stub), []);
  t.same(synonymReplacement(['car'], 1, new Rng(1), stub), ['auto'], 'one word can be replaced');
  t.same(synonymReplacement(['a', 'bus'], 1, new Rng(1), stub), ['a', 'bus'], 'no synonyms: unchanged');
  t.same(synonymReplacement(['car', 'car'], 0, new Rng(1), stub), ['car', 'car'], 'n = 0: unchanged');
});

t.test('random insertion adds n WordNet synonyms of words of the caption', async (t) => {
  const words = splitWords('a red car');
  const allowed = new Set([...wordnet.synonyms('red'), ...wordnet.synonyms('car')]);
  for (let seed = 0; seed < 30; seed++) {
    const out = randomInsertion(words, 1, new Rng(seed));
    t.equal(out.length, words.length + 1);
    const inserted = [...out];
    for (const w of words) inserted.splice(inserted.indexOf(w), 1);
    t.ok(inserted.every((w) => allowed.has(w)), `inserted ${JSON.stringify(inserted)} is a synonym of red or car`);
    t.same(randomInsertion(words, 1, new Rng(seed)), out, 'deterministic');
    t.equal(randomInsertion(words, 3, new Rng(seed)).length, words.length + 3, 'n = 3 inserts three words');
  }
  t.same(randomInsertion(['the', 'a'], 1, new Rng(3)), ['the', 'a'], 'stop words only: unchanged');
  t.same(randomInsertion(['a', 'car'], 1, new Rng(3), noSynonyms), ['a', 'car'], 'no synonyms: unchanged');
  t.same(randomInsertion([], 1, new Rng(3)), []);
});

t.test('random swap exchanges n pairs of distinct positions', async (t) => {
  const words = splitWords('one two three four five');
  for (let seed = 0; seed < 100; seed++) {
    const out = randomSwap(words, 1, new Rng(seed));
    t.same(sorted(out), sorted(words), 'same words');
    const moved = out.filter((w, i) => w !== words[i]).length;
    t.equal(moved, 2, 'exactly two positions differ');
    t.same(randomSwap(words, 1, new Rng(seed)), out, 'deterministic');
  }
  t.same(randomSwap(['alone'], 1, new Rng(1)), ['alone'], 'one word: unchanged');
  t.same(randomSwap([], 1, new Rng(1)), []);
});

t.test('random deletion deletes about p of the words and never empties a caption', async (t) => {
  const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
  let deleted = 0;
  const trials = 500;
  for (let seed = 0; seed < trials; seed++) {
    const out = randomDeletion(words, 0.1, new Rng(seed));
    deleted += words.length - out.length;
    t.ok(out.every((w, i) => i === 0 || words.indexOf(w) > words.indexOf(out[i - 1] as string)), 'order kept');
  }
  const rate = deleted / (trials * words.length);
  t.ok(Math.abs(rate - 0.1) < 0.01, `deletion rate ${rate.toFixed(4)} ~ 0.1`);
  t.same(randomDeletion(words, 0, new Rng(1)), words, 'p = 0: unchanged');
  const all = randomDeletion(words, 1, new Rng(1));
  t.equal(all.length, 1, 'p = 1: one random word remains');
  t.ok(words.includes(all[0] as string));
  t.same(randomDeletion(['alone'], 1, new Rng(1)), ['alone'], 'one word is never deleted');
  t.same(randomDeletion([], 0.5, new Rng(1)), []);
});

t.test('the declip preset picks synonym / swap / delete each about a third of the time', async (t) => {
  const counts: Record<string, number> = { synonym: 0, swap: 0, delete: 0, insert: 0 };
  const n = 3000;
  for (let i = 0; i < n; i++) {
    const r = applyEda('a brown dog runs across the green field', new Rng(i));
    counts[r.op] = (counts[r.op] ?? 0) + 1;
  }
  t.equal(counts['insert'], 0, 'no insertion in the declip preset');
  for (const op of ['synonym', 'swap', 'delete']) {
    const share = (counts[op] ?? 0) / n;
    t.ok(Math.abs(share - 1 / 3) < 0.03, `${op}: ${share.toFixed(3)} ~ 1/3`);
  }
  t.same(applyEda('a brown dog', new Rng(5)), applyEda('a brown dog', new Rng(5)), 'deterministic');
  t.same(applyEda('', new Rng(5)).text, '', 'empty caption stays empty');
  t.equal(applyEda('   ', new Rng(5)).text, '');
  const full = new Set<string>();
  for (let i = 0; i < 200; i++) full.add(applyEda('a brown dog', new Rng(i), EDA_PRESETS.full).op);
  t.same(sorted([...full]), ['delete', 'insert', 'swap', 'synonym'], 'the full preset uses all four');
});

t.test('EDA configurations are validated with the house message', async (t) => {
  t.equal(resolveEdaConfig('declip'), EDA_PRESETS.declip);
  t.throws(() => resolveEdaConfig('nope' as 'declip'), { message: 'Expected one of declip, full for eda but received "nope" of type string' });
  t.throws(() => resolveEdaConfig({ ops: [] }), InvalidOptionError);
  t.throws(() => resolveEdaConfig({ ops: [{ op: 'delete', p: 1.5 }] }), {
    message: 'Expected number between 0 and 1 for eda.ops[0].p but received 1.5 of type number',
  });
  t.throws(() => resolveEdaConfig({ ops: [{ op: 'swap', n: -1 }] }), {
    message: 'Expected integer between 0 and 64 for eda.ops[0].n but received -1 of type number',
  });
  t.throws(() => resolveEdaConfig({ ops: [{ op: 'shout', n: 1 } as unknown as { op: 'swap'; n: number }] }), {
    message: 'Expected one of synonym, insert, swap, delete for eda.ops[0].op but received "shout" of type string',
  });
  const custom = resolveEdaConfig({ ops: [{ op: 'delete', p: 0.5 }] });
  t.ok(Object.isFrozen(custom));
});

t.test('the WordNet cache is bounded and counts dictionary lookups', async (t) => {
  const wn = new WordNetSynonyms({ cacheWords: 2 });
  for (const w of ['car', 'dog', 'tree', 'car', 'lake']) wn.synonyms(w);
  t.ok(wn.cachedWords <= 2, `cache holds ${wn.cachedWords} <= 2 words`);
  t.equal(wn.lookups, 5, 'evicted words are looked up again');
  const wide = new WordNetSynonyms();
  wide.synonyms('car');
  wide.synonyms('car');
  t.equal(wide.lookups, 1, 'cached words are not looked up again');
  t.throws(() => new WordNetSynonyms({ cacheWords: 0 }), { message: /for cacheWords/ });
  t.throws(() => new WordNetSynonyms({ dictDir: '/nonexistent' }).synonyms('car'), { name: 'TextError', reason: 'wordnet' });
});
