/** Git revisions as they arrive from users (`repo@revision`) and servers (X-Repo-Commit): checked before they name files. */

export const COMMIT = /^[0-9a-f]{40}$/;

/**
 * Names that come from users (`repo/file@revision`) or servers (ETag, X-Repo-Commit) become path parts
 * here, so each is checked before use: a `../` revision or a hostile header must not write outside the cache.
 */
export function isCommitHash(s: string): boolean {
  return COMMIT.test(s);
}

/** A branch or tag name by git's rules (git check-ref-format), or a commit hash. */
export function checkRevision(revision: string): string {
  const bad = (why: string): never => {
    throw new Error(`invalid revision '${revision.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}': ${why}`);
  };
  if (revision === '' || revision.length > 255) bad('empty or longer than 255 characters');
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(revision)) bad('contains a space, control character or one of ~ ^ : ? * [ \\');
  if (revision.includes('..') || revision.includes('@{') || revision === '@') bad("contains '..' or '@{'");
  if (revision.startsWith('/') || revision.endsWith('/') || revision.includes('//')) bad('has an empty path component');
  for (const part of revision.split('/')) {
    if (part.startsWith('.') || part.endsWith('.lock')) bad("a component starts with '.' or ends with '.lock'");
  }
  if (revision.endsWith('.')) bad("ends with '.'");
  return revision;
}

