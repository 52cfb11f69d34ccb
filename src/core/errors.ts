/**
 * An error about arguments of a library call. `args` names them as the API does (`head`, `model`, `weights`),
 * so that each front end can say them in its own terms: the CLI as its flags (`--head`, `--model`), the service
 * as request fields.
 */
export class ArgumentError extends Error {
  constructor(
    readonly args: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = 'ArgumentError';
  }
}

/** `--kebab-case` of a camelCase argument name. */
export function flagOf(arg: string): string {
  return `--${arg.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
