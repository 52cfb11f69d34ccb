/** Text that came from a file, for an error message: printable ASCII only, at most `max` characters. */
export function short(s: string, max = 80): string {
  const clean = s.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
  return s.length > max ? `${clean}…` : clean;
}
