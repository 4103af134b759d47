import t from 'tap';
import { Rng, deriveSeed } from '../../core/rng.js';
import {
  CaptionTokenizer,
  EOT_ID,
  IGNORE_LABEL,
  SOT_ID,
  TextAugmenter,
  allocateTextViews,
  makeTextViews,
} from '../../augment/text/index.js';

const CAPTIONS = [
  'a brown dog runs across the green field',
  'two people sitting on a bench in the park',
  'a red car parked on a city street at night',
  'sunset over the mountain lake',
  'a cat',
  '',
];

const tokenizerP = CaptionTokenizer.train(
  Array.from({ length: 50 }, (_, i) => CAPTIONS[i % CAPTIONS.length] as string),
  { vocabSize: 300 },
);

const rngFor = (key: string): Rng => new Rng(deriveSeed(42, 0, key, 'text'));

t.test('a batch holds tokens, EDA tokens, masked tokens, labels and both EOT positions', async (t) => {
  const tok = await tokenizerP;
  const L = 16;
  const text = new TextAugmenter(tok, { contextLength: L });
  t.match(text.describe(), /^text\(L=16, eda=synonym\|swap\|delete, mlm=0.15, vocab=304\)$/);
  const v = text.views(CAPTIONS, CAPTIONS.map((_, i) => rngFor(`k${i}`)));
  const B = CAPTIONS.length;
  t.equal(v.size, B);
  for (const field of ['tokens', 'tokensEda', 'tokensMasked', 'mlmLabels'] as const) t.equal(v[field].length, B * L, field);
  t.same(v.tokens, tok.encode(CAPTIONS, L).ids, 'tokens are the plain encoding');
  for (let r = 0; r < B; r++) {
    const row = (a: Int32Array): Int32Array => a.subarray(r * L, (r + 1) * L);
    t.equal(row(v.tokens)[0], SOT_ID);
    t.equal(row(v.tokens)[v.eot[r] as number], EOT_ID, `eot of row ${r}`);
    t.equal(row(v.tokensEda)[v.eotEda[r] as number], EOT_ID, `eotEda of row ${r}`);
    t.equal(row(v.tokensMasked)[v.eot[r] as number], EOT_ID, 'masking keeps [EOT]');
    const tokens = row(v.tokens);
    const masked = row(v.tokensMasked);
    const labels = row(v.mlmLabels);
    for (let i = 0; i < L; i++) {
      if (labels[i] === IGNORE_LABEL) {
        if (masked[i] !== tokens[i]) t.fail(`row ${r}: unchosen position ${i} changed`);
      } else if (labels[i] !== tokens[i]) t.fail(`row ${r}: label ${i} is not the original id`);
    }
    const words = (v.eot[r] as number) - 1;
    const chosen = Array.from(labels).filter((l) => l !== IGNORE_LABEL).length;
    t.ok(words === 0 ? chosen === 0 : chosen >= 1, `row ${r}: ${chosen} chosen of ${words}`);
  }
});

t.test('a sample gets the same views whatever its batch or position', async (t) => {
  const tok = await tokenizerP;
  const text = new TextAugmenter(tok, { contextLength: 20 });
  const keys = CAPTIONS.map((_, i) => `key-${i}`);
  const forward = text.views(CAPTIONS, keys.map(rngFor));
  const order = [3, 0, 5, 1, 4, 2];
  const shuffled = text.views(order.map((i) => CAPTIONS[i] as string), order.map((i) => rngFor(keys[i] as string)));
  order.forEach((src, dst) => {
    for (const field of ['tokens', 'tokensEda', 'tokensMasked', 'mlmLabels'] as const) {
      t.same(shuffled[field].subarray(dst * 20, (dst + 1) * 20), forward[field].subarray(src * 20, (src + 1) * 20), `${field} of ${keys[src]}`);
    }
    t.equal(shuffled.eotEda[dst], forward.eotEda[src]);
  });
  const single = makeTextViews(CAPTIONS[2] as string, rngFor('key-2'), tok, 20);
  t.same(single.tokensMasked, forward.tokensMasked.subarray(40, 60), 'makeTextViews matches the batch row');
  const batch = makeTextViews(CAPTIONS.slice(0, 2), [rngFor('key-0'), rngFor('key-1')], tok, 20);
  t.same(batch.tokensEda, forward.tokensEda.subarray(0, 40));
  const other = text.views(CAPTIONS, keys.map((k) => new Rng(deriveSeed(42, 1, k, 'text'))));
  t.not(Array.from(other.mlmLabels).join(), Array.from(forward.mlmLabels).join(), 'another epoch gives other views');
});

t.test('the EDA view differs from the caption for some samples and decodes to EDA text', async (t) => {
  const tok = await tokenizerP;
  const text = new TextAugmenter(tok, { contextLength: 32 });
  const out = allocateTextViews(1, 32);
  let differs = 0;
  for (let seed = 0; seed < 60; seed++) {
    const { text: edaText } = text.viewsInto(CAPTIONS[0] as string, new Rng(seed), out, 0);
    t.equal(tok.decode(out.tokensEda), edaText.toLowerCase());
    if (edaText !== CAPTIONS[0]) differs++;
  }
  t.ok(differs > 20, `${differs}/60 EDA captions differ from the original`);
});

t.test('bad arguments are InvalidOptionErrors', async (t) => {
  const tok = await tokenizerP;
  const text = new TextAugmenter(tok, { contextLength: 8 });
  t.throws(() => new TextAugmenter(tok, { contextLength: 1 }), { message: 'Expected integer of at least 2 for contextLength but received 1 of type number' });
  t.throws(() => text.views(['a', 'b'], [new Rng(1)]), { name: 'InvalidOptionError', field: 'rngs' });
  t.throws(() => text.viewsInto('a', new Rng(1), allocateTextViews(1, 9), 0), { name: 'InvalidOptionError', field: 'out.contextLength' });
  t.throws(() => text.viewsInto('a', new Rng(1), allocateTextViews(1, 8), 1), { name: 'InvalidOptionError', field: 'row' });
  t.throws(() => new TextAugmenter(tok, { eda: 'none' as 'declip' }), { name: 'InvalidOptionError', field: 'eda' });
});
