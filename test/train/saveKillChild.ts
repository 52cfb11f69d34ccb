/**
 * Child process of saveKill.test.ts, killed by a fault point (DINOV2_FAULT_POINT) somewhere in a save.
 *   store <dir>   two saves of a small ParamStore (iteration 1, then 2)
 *   train <json>  trainSslOnImages with the options given (a tiny run saving every iteration)
 */
import { saveTrainState } from '../../src/train/ssl/checkpoint.js';
import { trainSslOnImages } from '../../src/train/ssl/sslImageLoop.js';
import { officialSslInit } from '../../src/train/ssl/sslInit.js';
import { killStore, KILL_RUN } from './saveKillFixtures.js';

const [mode, arg] = process.argv.slice(2);
if (mode === 'store') {
  await saveTrainState(arg!, killStore(1), { config: { generation: 1 } });
  await saveTrainState(arg!, killStore(2), { config: { generation: 2 } });
} else if (mode === 'train') {
  const { outDir, files } = JSON.parse(arg!) as { outDir: string; files: string[] };
  await trainSslOnImages({ ...KILL_RUN, images: files, outDir, init: officialSslInit(KILL_RUN.cfg.backbone, 3) });
} else {
  throw new Error(`unknown mode ${mode}`);
}
