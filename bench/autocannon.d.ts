// autocannon ships no types; the bench uses its callback API and the instance's 'response' event.
declare module 'autocannon' {
  const autocannon: (opts: Record<string, unknown>, done: (err: Error | null, result: unknown) => void) => { on(event: string, fn: (...args: any[]) => void): void };
  export default autocannon;
}
