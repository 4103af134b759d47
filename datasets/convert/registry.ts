/**
 * The converters by name, for `declip shards create --from KIND`: a typed table, not a
 * string switch.
 *
 * @example
 * ```ts
 * const source = await converters['synthetic']({ count: 100, seed: 1 });
 * ```
 */
import { InvalidOptionError } from '../../core/errors.js';
import { csvSource } from './csv.js';
import { fashionMnistSource } from './fashion-mnist.js';
import { folderSource } from './folder.js';
import type { SampleSource } from './source.js';
import { syntheticSource } from './synthetic.js';

/** The `--from` choices. */
export const CONVERTER_KINDS = ['folder', 'csv', 'fashion-mnist', 'synthetic'] as const;
export type ConverterKind = (typeof CONVERTER_KINDS)[number];

/** Everything a converter may take (each uses its own fields). */
export interface ConverterArgs {
  readonly input?: string;
  readonly count?: number;
  readonly seed?: number;
  readonly split?: 'train' | 'test';
  readonly imageSize?: number;
  readonly limit?: number;
}

function need<T>(name: string, value: T | undefined, kind: string): T {
  if (value === undefined) throw new InvalidOptionError(name, `--${name} is required for --from ${kind}`);
  return value;
}

/** Build a source from CLI-style arguments. */
export const converters = {
  folder: async (a: ConverterArgs) => await folderSource({ input: need('input', a.input, 'folder') }),
  csv: async (a: ConverterArgs) => await csvSource({ input: need('input', a.input, 'csv') }),
  'fashion-mnist': async (a: ConverterArgs) =>
    await fashionMnistSource({
      ...(a.input === undefined ? {} : { input: a.input }),
      split: need('split', a.split, 'fashion-mnist'),
      ...(a.seed === undefined ? {} : { seed: a.seed }),
      ...(a.limit === undefined ? {} : { limit: a.limit }),
    }),
  synthetic: (a: ConverterArgs) =>
    Promise.resolve(
      syntheticSource({
        count: need('count', a.count, 'synthetic'),
        ...(a.seed === undefined ? {} : { seed: a.seed }),
        ...(a.imageSize === undefined ? {} : { imageSize: a.imageSize }),
      }),
    ),
} as const satisfies Record<ConverterKind, (args: ConverterArgs) => Promise<SampleSource>>;
