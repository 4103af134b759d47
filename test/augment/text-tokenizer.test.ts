import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Rng } from '../../core/rng.js';
import { InvalidOptionError, TextError } from '../../core/errors.js';
import {
  CaptionTokenizer,
  EOT_ID,
  MASK_ID,
  PAD_ID,
  SOT_ID,
  decodeCaption,
  cleanCaption,
} from '../../augment/text/index.js';

const WORDS = [
  'a', 'the', 'dog', 'dogs', 'cat', 'running', 'on', 'beach', 'with', 'red', 'ball', 'photo', 'of', 'car', 'city',
  'street', 'at', 'night', 'Man', 'woman', 'bicycle', 'green', 'tree', 'sunset', 'over', 'mountain', 'lake', 'two',
  'people', 'sitting', 'bench', 'park', 'café', 'naïve', '東京', "don't", "it's", '2024', '3.5', 'ΟΔΟΣ', '😀', 'x-ray',
];

/** Deterministic synthetic captions. */
function captions(count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + rng.int(16);
    const words: string[] = [];
    for (let j = 0; j < n; j++) words.push(WORDS[rng.int(WORDS.length)] as string);
    out.push(words.join(rng.next() < 0.1 ? '  ' : ' ') + (rng.next() < 0.5 ? '.' : ''));
  }
  return out;
}

const CORPUS = captions(3000, 1);
const N = 360;
const tokenizerP = CaptionTokenizer.train(CORPUS, { vocabSize: N });

const TRICKY = [
  '',
  '   ',
  'A Dog',
  '  a\tdog\n\non  grass ',
  'ΟΔΟΣ ΣΑΣ',
  'İstanbul at night',
  "it's 3.5km, isn't it?!",
  '😀😀 emoji',
  'mixed\u00a0nbsp\u2003space',
  'unseen characters: ñ ø ß ж ✓ 🚲',
  'word '.repeat(100),
];

t.test('vocabulary is N + 4 with fixed special ids and the full byte alphabet', async (t) => {
  const tok = await tokenizerP;
  t.equal(tok.vocabSize, N + 4);
  t.equal(tok.learnedSize, N);
  const vocab = (JSON.parse(tok.toJSON()) as { model: { vocab: Record<string, number> } }).model.vocab;
  t.equal(vocab['[PAD]'], PAD_ID);
  t.equal(vocab['[SOT]'], SOT_ID);
  t.equal(vocab['[EOT]'], EOT_ID);
  t.equal(vocab['[MASK]'], MASK_ID);
  t.same([PAD_ID, SOT_ID, EOT_ID, MASK_ID], [0, 1, 2, 3]);
  t.equal(Object.keys(vocab).length, N + 4);
  t.equal(Math.max(...Object.values(vocab)), N + 3);
  t.ok(Object.keys(vocab).every((k) => !k.startsWith('<|unused')), 'this corpus is big enough to learn all N tokens');
});

t.test('a corpus too small for N fills the rest with never-produced placeholders', async (t) => {
  const tok = await CaptionTokenizer.train(['a dog', 'a cat'], { vocabSize: 300 });
  t.equal(tok.vocabSize, 304);
  const { ids } = tok.encode(['a dog', 'a cat', 'a dog and a cat'], 16);
  const maxLearned = Math.max(...Array.from(ids));
  const vocab = (JSON.parse(tok.toJSON()) as { model: { vocab: Record<string, number> } }).model.vocab;
  const firstPlaceholder = Math.min(...Object.entries(vocab).filter(([k]) => k.startsWith('<|unused')).map(([, v]) => v));
  t.ok(maxLearned < firstPlaceholder, `ids ${maxLearned} stay below the first placeholder ${firstPlaceholder}`);
  const big = await CaptionTokenizer.train(['a dog', 'a cat'], { vocabSize: 40_000 });
  t.equal(big.vocabSize, 40_004, 'beyond the native trainer limit too');
  t.equal(CaptionTokenizer.fromJSON(big.toJSON()).vocabSize, 40_004);
});

t.test('vocabSize and contextLength are validated with the house message', async (t) => {
  await t.rejects(CaptionTokenizer.train(['a'], { vocabSize: 10 }), {
    message: 'Expected integer between 256 and 1048576 for vocabSize but received 10 of type number',
  });
  const tok = await tokenizerP;
  t.throws(() => tok.encode(['a'], 1), InvalidOptionError);
  t.throws(() => tok.encode(['a'], 1), { message: 'Expected integer of at least 2 for contextLength but received 1 of type number' });
});

t.test('trains the same from caption files (one per line) as from an iterable, and honours an AbortSignal', async (t) => {
  const dir = t.testdir({
    'a.txt': CORPUS.slice(0, 1500).join('\n') + '\n',
    'b.txt': CORPUS.slice(1500).join('\r\n'),
  });
  const fromFiles = await CaptionTokenizer.trainFromFiles([join(dir, 'a.txt'), join(dir, 'b.txt')], { vocabSize: N });
  t.equal(fromFiles.toJSON(), (await tokenizerP).toJSON());
  const controller = new AbortController();
  controller.abort();
  await t.rejects(CaptionTokenizer.train(CORPUS, { vocabSize: N, signal: controller.signal }), { name: 'AbortError' });
});

t.test('the TypeScript encoder gives exactly the native binding ids', async (t) => {
  const tok = await tokenizerP;
  const inputs = [...CORPUS.slice(0, 500), ...captions(200, 99), ...TRICKY];
  for (const L of [8, 77]) {
    const ts = tok.encode(inputs, L);
    const native = await tok.encodeNative(inputs, L);
    t.same(Array.from(ts.eot), Array.from(native.eot), `eot, L=${L}`);
    let firstDiff = -1;
    for (let i = 0; i < ts.ids.length && firstDiff < 0; i++) if (ts.ids[i] !== native.ids[i]) firstDiff = i;
    t.equal(firstDiff, -1, `ids, L=${L}${firstDiff >= 0 ? `: caption ${JSON.stringify(inputs[Math.floor(firstDiff / L)])}` : ''}`);
  }
});

t.test('rows are [SOT] tokens [EOT] [PAD]*, truncated with [EOT] last', async (t) => {
  const tok = await tokenizerP;
  const L = 10;
  const short = 'a dog';
  const long = 'two people sitting on a bench in the park at sunset with a red ball';
  const { ids, eot } = tok.encode([short, long, ''], L);
  const shortIds = tok.tokenIds(short);
  const longIds = tok.tokenIds(long);
  t.ok(longIds.length > L - 2, 'the long caption needs truncation');

  t.same(Array.from(ids.subarray(0, L)), [SOT_ID, ...shortIds, EOT_ID, ...new Array<number>(L - shortIds.length - 2).fill(PAD_ID)]);
  t.equal(eot[0], shortIds.length + 1);

  t.same(Array.from(ids.subarray(L, 2 * L)), [SOT_ID, ...longIds.slice(0, L - 2), EOT_ID]);
  t.equal(eot[1], L - 1);

  t.same(Array.from(ids.subarray(2 * L, 3 * L)), [SOT_ID, EOT_ID, ...new Array<number>(L - 2).fill(PAD_ID)]);
  t.equal(eot[2], 1);

  for (let r = 0; r < 3; r++) t.equal(ids[r * L + (eot[r] as number)], EOT_ID);
  t.same(Array.from(tok.encode(['anything at all'], 2).ids), [SOT_ID, EOT_ID]);
});

t.test('lower-cases, collapses white space, and decodes back', async (t) => {
  const tok = await tokenizerP;
  t.same(tok.tokenIds('A  DOG\ton the Beach'), tok.tokenIds('a dog on the beach'));
  for (const caption of [...CORPUS.slice(0, 50), ...TRICKY.slice(0, 10)]) {
    const { ids } = tok.encode([caption], 200);
    const perChar = Array.from(cleanCaption(caption), (c) => c.toLowerCase()).join(''); // no final-sigma rule, like Rust
    t.equal(tok.decode(ids), perChar, JSON.stringify(caption));
  }
});

t.test('cleanCaption trims and collapses every kind of white space, and leaves clean text alone', async (t) => {
  const slow = (s: string): string => s.replace(/[\s\u0085]+/gu, ' ').trim();
  const inputs = [...TRICKY, ...CORPUS.slice(0, 100), 'a\u0085b', '\ufeffbom', 'a\u3000b', 'x ', ' x', 'a  b', 'a b'];
  for (const s of inputs) t.equal(cleanCaption(s), slow(s), JSON.stringify(s));
  t.equal(cleanCaption(' \t a \n\u2003 b \u0085'), 'a b');
});

t.test('save and load give the same tokenizer and the same ids', async (t) => {
  const tok = await tokenizerP;
  const dir = t.testdir({});
  const file = join(dir, 'tokenizer.json');
  await tok.save(file);
  const loaded = await CaptionTokenizer.load(file);
  const loadedSync = CaptionTokenizer.loadSync(file);
  t.equal(loaded.vocabSize, tok.vocabSize);
  t.equal(readFileSync(file, 'utf8'), tok.toJSON());
  const sample = [...CORPUS.slice(0, 300), ...TRICKY];
  const a = tok.encode(sample, 32);
  t.same(loaded.encode(sample, 32), a);
  t.same(loadedSync.encode(sample, 32), a);
  t.same(await loaded.encodeNative(sample, 32), a, 'the saved file is a valid tokenizers file');
});

t.test('unsupported or unreadable tokenizer files are TextErrors', async (t) => {
  const dir = t.testdir({});
  await t.rejects(CaptionTokenizer.load(join(dir, 'missing.json')), { name: 'TextError', reason: 'tokenizer-file' });
  t.throws(() => CaptionTokenizer.fromJSON('{'), { name: 'TextError', reason: 'tokenizer-file' });
  const tok = await tokenizerP;
  const json = JSON.parse(tok.toJSON()) as { model: { vocab: Record<string, number> } };
  json.model.vocab['[PAD]'] = 5;
  json.model.vocab['Ġ'] = 0;
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify(json));
  t.throws(() => CaptionTokenizer.loadSync(file), { message: /\[PAD\] must have id 0/ });
});

t.test('decodeCaption accepts UTF-8 and rejects anything else with a TextError', async (t) => {
  t.equal(decodeCaption(Buffer.from('a café 😀', 'utf8')), 'a café 😀');
  t.equal(decodeCaption(Buffer.from('\ufeffbom', 'utf8')), 'bom');
  for (const bad of [[0xff], [0xc3, 0x28], [0x61, 0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
    const err = t.throws(() => decodeCaption(Uint8Array.from(bad))) as unknown;
    t.ok(err instanceof TextError, `${bad.join(',')} -> TextError`);
    t.match(err, { reason: 'caption-not-utf8', code: 'ERR_DECLIP_TEXT' });
    t.ok((err as Error).cause instanceof Error, 'keeps the cause');
  }
});

t.test('loads and encodes the same inside a worker thread', async (t) => {
  const tok = await tokenizerP;
  const dir = t.testdir({});
  const file = join(dir, 'tokenizer.json');
  await tok.save(file);
  // Module hooks registered in this thread do not reach worker threads on Node 20, so a
  // worker running from the sources registers tsx itself before importing TypeScript.
  const moduleUrl = new URL('../../augment/text/index.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.tsxApi)
      .then((api) => { api.register(); return import(workerData.moduleUrl); })
      .then((m) => {
        const tok = m.CaptionTokenizer.loadSync(workerData.file);
        const { ids, eot } = tok.encode(workerData.captions, 16);
        parentPort.postMessage({ ids, eot }, [ids.buffer, eot.buffer]);
      });
  `;
  const sample = CORPUS.slice(0, 20);
  const worker = new Worker(code, { eval: true, workerData: { moduleUrl, tsxApi, file, captions: sample } });
  const [message] = (await new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve([m]));
    worker.once('error', reject);
  })) as [{ ids: Int32Array; eot: Int32Array }];
  await worker.terminate();
  const expected = tok.encode(sample, 16);
  t.same(Array.from(message.ids), Array.from(expected.ids));
  t.same(Array.from(message.eot), Array.from(expected.eot));
});
