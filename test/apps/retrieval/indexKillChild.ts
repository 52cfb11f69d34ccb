/** Child of indexKill.test.ts: `index <db> <images...>` with the tiny model; killed by DINOV2_FAULT_POINT. */
import { join } from 'node:path';
import { indexImages } from '../../../src/apps/retrieval/indexImages.js';
import { loadBackbone } from '../../../src/models/load.js';
import { CONFORMANCE_DIR } from '../../helpers.js';

const [db, ...images] = process.argv.slice(2);
const model = await loadBackbone(join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors'));
await indexImages(images, { db: db!, model, size: 56 });
await model.dispose();
