/** Every CLI command, in the order `dinov2 --help` lists them. */
import type { Command } from 'commander';
import { registerInfo } from './info.js';
import { registerEmbed } from './embed.js';
import { registerPca } from './pca.js';
import { registerConvert } from './convert.js';
import { registerDepth } from './depth.js';
import { registerSegment } from './segment.js';
import { registerSegmentTrain } from './segmentTrain.js';
import { registerTrain } from './train.js';
import { registerDistill } from './distill.js';
import { registerAttention } from './attention.js';
import { registerClassify } from './classify.js';
import { registerKnn } from './knn.js';
import { registerLinear } from './linear.js';
import { registerIndex } from './indexImages.js';
import { registerSearch } from './search.js';
import { registerDedup } from './dedup.js';
import { registerCurate } from './curate.js';
import { registerJobs, registerSubmit, registerWorker } from './queue.js';
import { registerServe } from './serve.js';
import { registerInit } from './init.js';

export const COMMANDS: readonly ((program: Command) => void)[] = [registerInfo, registerEmbed, registerPca, registerConvert, registerDepth, registerSegment, registerSegmentTrain, registerTrain, registerDistill, registerAttention, registerClassify, registerKnn, registerLinear, registerIndex, registerSearch, registerDedup, registerCurate, registerInit, registerServe, registerSubmit, registerWorker, registerJobs];
