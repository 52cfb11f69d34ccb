/** Commander parsers shared by the commands' options. */
import { InvalidArgumentError } from 'commander';

/** Commander parser for options that take a positive integer (sizes, counts). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive integer`);
  return n;
}

/** Commander parser for options that take a non-negative integer (seeds). */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`'${value}' is not a non-negative integer`);
  return n;
}

/** A numeric option value checked against its kind and lower bound; the error names the flag. */
export function numberOption(flag: string, value: string, { integer = false, min = 0 }: { integer?: boolean; min?: number } = {}): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new Error(`${flag} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${value}'`);
  }
  return n;
}
