/**
 * Kind `arch.shapes`: for a hub model name, our config must equal the official one, and the state dict we
 * build must have exactly the official keys, shapes and parameter count.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hubConfig, isHubModelName, type BackboneConfig } from '../../../src/models/config.js';
import { backboneStateDictShapes, parameterCount } from '../../../src/models/stateDictShapes.js';
import type { KindHandler } from '../kind.js';

interface ArchFile {
  name: string;
  config: Partial<BackboneConfig>;
  num_params: number;
  state_dict_shapes: Record<string, number[]>;
}

export function archProblems(arch: ArchFile): string[] {
  if (!isHubModelName(arch.name)) return [`'${arch.name}' is not a hub model name we know`];
  const ours = hubConfig(arch.name);
  const problems: string[] = [];
  for (const [k, v] of Object.entries(arch.config)) {
    if ((ours as unknown as Record<string, unknown>)[k] !== v) problems.push(`config.${k}: ours ${JSON.stringify((ours as unknown as Record<string, unknown>)[k])}, official ${JSON.stringify(v)}`);
  }
  const shapes = backboneStateDictShapes(ours);
  for (const [k, s] of Object.entries(arch.state_dict_shapes)) {
    const mine = shapes.get(k);
    if (!mine) problems.push(`missing key '${k}'`);
    else if (mine.join() !== s.join()) problems.push(`'${k}': ours [${mine}], official [${s}]`);
  }
  for (const k of shapes.keys()) if (!(k in arch.state_dict_shapes)) problems.push(`unexpected key '${k}'`);
  const count = parameterCount(shapes);
  if (count !== arch.num_params) problems.push(`parameter count: ours ${count}, official ${arch.num_params}`);
  return problems;
}

export const archShapes: KindHandler = {
  kind: 'arch.shapes',
  async run(manifest, c) {
    const arch = JSON.parse(await readFile(join(manifest.dir, c.file), 'utf8')) as ArchFile;
    const problems = archProblems(arch);
    return [
      {
        id: c.id,
        kind: c.kind,
        format: '-',
        status: problems.length === 0 ? 'pass' : 'fail',
        maxAbsError: problems.length === 0 ? 0 : Infinity,
        ...(problems.length ? { detail: problems.slice(0, 5).join('; ') } : {}),
      },
    ];
  },
};
