/** Commander parsers shared by the commands' options. */
import { InvalidArgumentError } from 'commander';

/** Commander parser for options that take a positive integer (sizes, counts). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive integer`);
  return n;
}
