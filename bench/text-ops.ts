/**
 * Text operator micro-benchmark, one thread: per-caption cost of tokenizing (the
 * TypeScript encoder against the native `tokenizers` binding's async `encodeBatch`), of
 * EDA (`declip` preset, WordNet cache cold and warm), of MLM masking, and of a whole
 * sample's text views (`TextAugmenter.viewsInto`: 2 captions tokenized, EDA, MLM), plus
 * what a worker pays once at start-up (tokenizer load, WordNet index load).
 *
 * Usage:
 *   npx tsx bench/text-ops.ts [--n 3000] [--rounds 5] [--vocab 8000] [--json]
 *
 * Repeated steps report the best of --rounds runs.
 *
 * Captions are synthetic: half in the benchmark shards' template ("a bright photo of
 * coffee number 17"), half COCO-like sentences over a few hundred words. Compare numbers
 * of one run; numbers taken on a busy machine are only indicative.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Rng, deriveSeed } from '../core/rng.js';
import {
  CaptionTokenizer,
  TextAugmenter,
  WordNetSynonyms,
  allocateTextViews,
  applyEda,
  maskTokens,
  resolveMlmOptions,
} from '../augment/text/index.js';

const NOUNS = (
  'dog cat man woman child boy girl people person car bus train truck bicycle motorcycle plane boat horse cow sheep ' +
  'bird elephant bear zebra giraffe street road city building house kitchen table chair bed room window door tree ' +
  'park field grass beach ocean water lake river mountain snow sky sunset pizza sandwich cake plate bowl cup phone ' +
  'laptop computer book clock umbrella bag ball kite frisbee surfboard skateboard skis racket bench sign light fence'
).split(' ');
const ADJECTIVES = 'red blue green white black yellow small large old young wooden tall busy empty sunny snowy happy'.split(' ');
const VERBS = 'sitting standing walking running riding holding eating playing looking flying parked lying'.split(' ');
const GLUE = 'a the on in with of at near next to under over by two some'.split(' ');
const PHOTOS = 'astronaut chelsea coffee rocket motorcycle left hubble deep field retina camera brick grass'.split(' ');
const TEMPLATE_ADJ = ['a close-up', 'a detailed', 'a blurry', 'a bright', 'a dark', 'an old', 'a colorful'];
const TEMPLATE_WORD = ['photo', 'picture', 'image', 'snapshot'];

function makeCaptions(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = (xs: readonly string[]): string => xs[rng.int(xs.length)] as string;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      out.push(`${pick(TEMPLATE_ADJ)} ${pick(TEMPLATE_WORD)} of ${pick(PHOTOS)} number ${i}`);
    } else {
      const w = [pick(GLUE), pick(ADJECTIVES), pick(NOUNS), pick(VERBS), pick(GLUE), pick(GLUE), pick(NOUNS)];
      if (rng.next() < 0.5) w.push(pick(GLUE), pick(ADJECTIVES), pick(NOUNS));
      out.push(w.join(' ') + '.');
    }
  }
  return out;
}

/** Best of `rounds` timings of `fn` over `count` items, in microseconds per item (the least disturbed by other load). */
async function perItem(rounds: number, count: number, fn: () => unknown): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await fn();
    times.push(((performance.now() - t0) * 1000) / count);
  }
  return Math.min(...times);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '5' },
      vocab: { type: 'string', default: '8000' },
      json: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.n);
  const rounds = Number(values.rounds);
  const captions = makeCaptions(n, 1);
  const L = 77;
  const results: Record<string, number> = {};
  const note = (name: string, us: number): void => {
    results[name] = Math.round(us * 100) / 100;
    if (!values.json) console.log(`${name.padEnd(44)} ${us.toFixed(2).padStart(10)} us`);
  };

  let t0 = performance.now();
  const trained = await CaptionTokenizer.train(makeCaptions(20_000, 2), { vocabSize: Number(values.vocab) });
  note('train tokenizer, 20k captions (once)', (performance.now() - t0) * 1000);
  t0 = performance.now();
  const tok = CaptionTokenizer.fromJSON(trained.toJSON());
  note('worker start: tokenizer from JSON', (performance.now() - t0) * 1000);
  t0 = performance.now();
  const wn = new WordNetSynonyms();
  wn.synonyms('dog');
  note('worker start: WordNet index load + 1 lookup', (performance.now() - t0) * 1000);

  // Tokenize: per sample the pipeline encodes the caption and its EDA version (the masked
  // row is derived from the first), so the brief's "3 captions per sample" is an upper bound.
  tok.encode(captions, L); // warm the word cache, as a long-running worker would be
  const triples: string[][] = [];
  for (let i = 0; i + 3 <= captions.length; i += 3) triples.push(captions.slice(i, i + 3));
  note('tokenize 3 captions, TS encode (per sample)', await perItem(rounds, triples.length, () => {
    for (const three of triples) tok.encode(three, L);
  }));
  note('tokenize 3 captions, native encodeBatch(3)', await perItem(rounds, triples.length, async () => {
    for (const three of triples) await tok.encodeNative(three, L);
  }));
  note('tokenize, native encodeBatch(192) per caption', await perItem(rounds, captions.length, async () => {
    for (let i = 0; i < captions.length; i += 192) await tok.encodeNative(captions.slice(i, i + 192), L);
  }));

  // EDA: cold = a fresh WordNet cache (every distinct word is one dictionary lookup).
  const cold = new WordNetSynonyms();
  cold.synonyms('warm-up'); // index load is counted above, not here
  const edaConfig = undefined;
  t0 = performance.now();
  captions.forEach((c, i) => applyEda(c, new Rng(deriveSeed(0, 0, String(i), 'text')), edaConfig, cold));
  note('EDA declip, cold WordNet cache (per caption)', ((performance.now() - t0) * 1000) / captions.length);
  results['wordnetLookupsCold'] = cold.lookups;
  note('EDA declip, warm cache (per caption)', await perItem(rounds, captions.length, () => {
    captions.forEach((c, i) => applyEda(c, new Rng(deriveSeed(0, 1, String(i), 'text')), edaConfig, cold));
  }));

  const require = createRequire(import.meta.url);
  const { WordNet } = require('natural/lib/natural/wordnet/index.js') as {
    WordNet: new () => { lookup(word: string, cb: (records: unknown[]) => void): void };
  };
  const natural = new WordNet();
  const probe = ['dog', 'street', 'red'];
  t0 = performance.now();
  for (const w of probe) await new Promise((resolve) => natural.lookup(w, resolve));
  note('natural WordNet lookup (per word, reference)', ((performance.now() - t0) * 1000) / probe.length);
  const fresh = new WordNetSynonyms();
  fresh.synonyms('warm-up');
  t0 = performance.now();
  for (const w of probe) fresh.synonyms(w);
  note('this WordNet reader, cache miss (per word)', ((performance.now() - t0) * 1000) / probe.length);

  // MLM on the encoded rows.
  const { ids } = tok.encode(captions, L);
  const mlm = resolveMlmOptions({}, tok.vocabSize);
  const masked = new Int32Array(ids.length);
  const labels = new Int32Array(ids.length);
  note('MLM mask (per row of 77)', await perItem(rounds, captions.length, () => {
    const rng = new Rng(3);
    for (let r = 0; r < captions.length; r++) {
      maskTokens(ids.subarray(r * L, (r + 1) * L), rng, mlm, { tokensMasked: masked, labels, offset: r * L });
    }
  }));

  // Everything a worker does for a sample's text.
  const text = new TextAugmenter(tok, { contextLength: L, synonyms: cold });
  const out = allocateTextViews(1, L);
  note('text views per sample (tokenize x2, EDA, MLM)', await perItem(rounds, captions.length, () => {
    captions.forEach((c, i) => text.viewsInto(c, new Rng(deriveSeed(0, 2, String(i), 'text')), out, 0));
  }));

  if (values.json) console.log(JSON.stringify({ captions: n, contextLength: L, vocabSize: tok.vocabSize, microseconds: results }));
}

await main();
