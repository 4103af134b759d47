/**
 * Seeded randomness. Library code never calls `Math.random()`: it takes an {@link Rng}.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit
 * state, passes PractRand), seeded through SplitMix32 from a 32-bit seed. Seeds for one
 * sample's view derive from (seed, epoch, sample key, view) with {@link deriveSeed}, so the
 * same sample gets the same augmentation whatever worker runs it or in which order.
 *
 * @example
 * ```ts
 * const rng = new Rng(deriveSeed(seed, epoch, sample.__key__, 'view1'));
 * const flip = rng.next() < 0.5;
 * ```
 */

/** Serialisable generator state (four uint32), for checkpoints. */
export type RngState = readonly [number, number, number, number];

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spareNormal: number | undefined;

  constructor(seed: number | RngState = 0) {
    if (typeof seed === 'number') {
      let s = seed >>> 0;
      const split = (): number => {
        s = (s + 0x9e3779b9) >>> 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
        return (z ^ (z >>> 16)) >>> 0;
      };
      this.#a = split();
      this.#b = split();
      this.#c = split();
      this.#d = split();
      for (let i = 0; i < 12; i++) this.uint32();
    } else {
      [this.#a, this.#b, this.#c, this.#d] = seed;
    }
  }

  /** Uniform uint32. */
  uint32(): number {
    const a = this.#a, b = this.#b, c = this.#c, d = this.#d;
    const t = (((a + b) >>> 0) + d) >>> 0;
    this.#d = (d + 1) >>> 0;
    this.#a = (b ^ (b >>> 9)) >>> 0;
    this.#b = (c + (c << 3)) >>> 0;
    const r = ((c << 21) | (c >>> 11)) >>> 0;
    this.#c = (r + t) >>> 0;
    return t;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). Unbiased (rejection sampling). */
  int(n: number): number {
    if (!(n >= 1) || n > 4294967296) throw new RangeError(`Rng.int: n must be in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Marsaglia polar method). */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const s = this.#spareNormal;
      this.#spareNormal = undefined;
      return s;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const m = Math.sqrt((-2 * Math.log(s)) / s);
        this.#spareNormal = v * m;
        return u * m;
      }
    }
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /** A snapshot of the state, to resume the exact sequence later. */
  state(): RngState {
    return [this.#a, this.#b, this.#c, this.#d];
  }
}

/**
 * A 32-bit seed from any mix of numbers and strings (MurmurHash3-style mixing of the
 * UTF-8 bytes of each part, with part separators so ('ab','c') != ('a','bc')).
 */
export function deriveSeed(...parts: readonly (number | string)[]): number {
  let h = 0x811c9dc5;
  const mix = (k: number): void => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  for (const part of parts) {
    if (typeof part === 'number') {
      mix(0x6e756d00); // 'num\0' tag
      mix(part >>> 0);
      mix(Math.floor(part / 4294967296) >>> 0);
    } else {
      mix(0x73747200); // 'str\0' tag
      const bytes = Buffer.from(part, 'utf8');
      mix(bytes.length);
      for (const b of bytes) mix(b);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
