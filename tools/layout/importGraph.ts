/**
 * The import graph of src/ and the layering rule it must follow (docs/ARCHITECTURE.md). Used by the layout test
 * and by `npm run check:layers`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize, relative } from 'node:path';

/** The layers, lowest first. A file may import from its own layer or any layer listed before it. */
export const LAYERS = ['core', 'graph', 'formats', 'data', 'models', 'heads', 'hub', 'train', 'eval', 'apps', 'serve', 'web', 'cli'] as const;
/** Files directly in src/ (the package entries) may import anything. */
const ENTRIES = new Set(['index.ts', 'web.ts']);

export function layerOf(file: string): number | undefined {
  if (ENTRIES.has(file)) return LAYERS.length;
  const top = file.split('/')[0]!;
  const i = (LAYERS as readonly string[]).indexOf(top);
  return i < 0 ? undefined : i;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|(?:^|[\s;])import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

async function tsFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p, root)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(root, p));
  }
  return out;
}

/** file (relative to root, '/'-separated) → the files of root it imports (type-only imports included). */
export async function importGraph(root: string): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of (await tsFiles(root)).sort()) {
    const text = await readFile(join(root, file), 'utf8');
    const targets = new Set<string>();
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      const target = normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts').split('\\').join('/');
      if (!target.startsWith('..')) targets.add(target);
    }
    graph.set(file.split('\\').join('/'), [...targets]);
  }
  return graph;
}

export function layerViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const t of targets) {
      const to = layerOf(t);
      if (to !== undefined && to > from) out.push(`${file} imports ${t} (${LAYERS[from] ?? file} may import only from layers below it)`);
    }
  }
  return out;
}

/** Each import cycle once, as the list of files along it (Tarjan's strongly connected components). */
export function fileCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

// `npm run check:layers`
if (process.argv[1]?.endsWith('importGraph.ts')) {
  const root = join(dirname(new URL(import.meta.url).pathname), '..', '..', 'src');
  const graph = await importGraph(root);
  const v = layerViolations(graph);
  const c = fileCycles(graph);
  for (const line of v) console.log(line);
  for (const cyc of c) console.log(`cycle: ${cyc.join(' → ')}`);
  console.log(`${v.length} layer violations, ${c.length} cycles in ${graph.size} files`);
  process.exitCode = v.length + c.length > 0 ? 1 : 0;
}
