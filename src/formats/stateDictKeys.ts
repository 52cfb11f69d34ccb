/**
 * Finds the backbone state dict among the keys of a checkpoint and renames it to the hub layout:
 *
 * 1. Wrappers: while the keys' first components include `model`, `teacher`, `state_dict` or `student`
 *    (tried in that order), keep only the keys under the first one present and strip it. So a DINOv2
 *    training checkpoint `{"teacher": ...}` and an SSL-meta-arch dump with both `student.` and `teacher.`
 *    yield the teacher, the network the paper evaluates.
 * 2. `module.` (DistributedDataParallel) is stripped when every key has it.
 * 3. `backbone.`: when present, only the keys under it are kept (the DINO/iBOT heads beside it are not part
 *    of the backbone; open the file with `PthFile`/`SafetensorsFile` to see them).
 * 4. Training runs wrap blocks in chunks (`block_chunks`): `blocks.{c}.{i}.` → `blocks.{i}.`; the second
 *    index is already the global block index, so the chunk index is simply dropped.
 */

const WRAPPERS = ['model', 'teacher', 'state_dict', 'student'];

export interface KeySelection {
  /** New key → original key, in the original order. */
  names: Map<string, string>;
  /** The prefix that was stripped, e.g. `teacher.backbone.` ('' for none). */
  prefix: string;
  /** Whether chunked block keys were renamed. */
  unchunked: boolean;
}

export function selectStateDict(keys: readonly string[], label: string): KeySelection {
  let current = keys.map((k) => [k, k] as [string, string]);
  let prefix = '';
  const descend = (head: string): void => {
    const p = `${head}.`;
    current = current.filter(([k]) => k.startsWith(p)).map(([k, o]) => [k.slice(p.length), o]);
    prefix += p;
  };
  for (;;) {
    const heads = new Set(current.map(([k]) => k.split('.', 1)[0]!));
    const wrapper = WRAPPERS.find((w) => heads.has(w));
    if (wrapper) descend(wrapper);
    else if (current.length > 0 && heads.size === 1 && heads.has('module')) descend('module');
    else if (heads.has('backbone')) descend('backbone');
    else break;
  }
  const names = new Map<string, string>();
  let unchunked = false;
  for (const [k, original] of current) {
    const renamed = k.replace(/^blocks\.\d+\.(\d+)\./, 'blocks.$1.');
    if (renamed !== k) unchunked = true;
    const clash = names.get(renamed);
    if (clash !== undefined) throw new Error(`${label}: '${clash}' and '${original}' both become '${renamed}'`);
    names.set(renamed, original);
  }
  return { names, prefix, unchunked };
}
