/** Every case kind the project implements. */
import type { KindHandler } from './kind.js';
import { archShapes } from './kinds/archShapes.js';
import { backboneForward } from './kinds/backboneForward.js';
import { backboneIntermediate } from './kinds/backboneIntermediate.js';
import { preprocessEval } from './kinds/preprocessEval.js';
import { schedule } from './kinds/schedule.js';
import { headDino } from './kinds/headDino.js';
import { lossDino } from './kinds/lossDino.js';
import { lossIbot } from './kinds/lossIbot.js';
import { lossKoleo } from './kinds/lossKoleo.js';
import { headDepthLinear } from './kinds/headDepthLinear.js';
import { headClassifier } from './kinds/headClassifier.js';
import { trainSslStep } from './kinds/trainSslStep.js';

export const KIND_HANDLERS: readonly KindHandler[] = [
  backboneForward,
  backboneIntermediate,
  archShapes,
  preprocessEval,
  schedule,
  headDino,
  lossDino,
  lossIbot,
  lossKoleo,
  headDepthLinear,
  headClassifier,
  trainSslStep,
];
