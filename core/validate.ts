/**
 * Option validation with one message formatter (after sharp's `is.js`):
 * "Expected number between 0.001 and 1 for minAmplitude but received 0 of type number".
 * Validate once, at the boundary; internal code uses the resolved option types.
 */
import { InvalidOptionError } from './errors.js';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `${JSON.stringify(value)} of type string`;
  if (typeof value === 'object') return `${Array.isArray(value) ? 'array' : 'object'} of type object`;
  return `${String(value)} of type ${typeof value}`;
}

/** Build the house-format error: `Expected ${expected} for ${name} but received ${value}`. */
export function invalidOption(name: string, expected: string, value: unknown): InvalidOptionError {
  return new InvalidOptionError(name, `Expected ${expected} for ${name} but received ${describe(value)}`);
}

export function expectNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range =
      min === -Infinity && max === Infinity
        ? 'finite number'
        : max === Infinity
          ? `number of at least ${min}`
          : min === -Infinity
            ? `number of at most ${max}`
            : `number between ${min} and ${max}`;
    throw invalidOption(name, range, value);
  }
  return value;
}

export function expectInteger(name: string, value: unknown, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `integer of at least ${min}` : `integer between ${min} and ${max}`;
    throw invalidOption(name, range, value);
  }
  return value;
}

export function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidOption(name, 'boolean', value);
  return value;
}

export function expectString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidOption(name, 'non-empty string', value);
  return value;
}

export function expectOneOf<const T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw invalidOption(name, `one of ${choices.join(', ')}`, value);
  }
  return value as T;
}

/** A `[lo, hi]` pair with `min <= lo <= hi <= max`. */
export function expectRange(name: string, value: unknown, min = -Infinity, max = Infinity): readonly [number, number] {
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'number' ||
    typeof value[1] !== 'number' ||
    !(value[0] >= min && value[0] <= value[1] && value[1] <= max)
  ) {
    throw invalidOption(name, `[lo, hi] with ${min} <= lo <= hi <= ${max}`, value);
  }
  return [value[0], value[1]];
}

/** Probability in [0, 1]. */
export function expectProbability(name: string, value: unknown): number {
  return expectNumber(name, value, 0, 1);
}
