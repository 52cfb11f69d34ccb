/** Every case kind the project implements. */
import type { KindHandler } from './kind.js';
import { archShapes } from './kinds/archShapes.js';
import { backboneForward } from './kinds/backboneForward.js';
import { backboneIntermediate } from './kinds/backboneIntermediate.js';
import { preprocessEval } from './kinds/preprocessEval.js';
import { schedule } from './kinds/schedule.js';

export const KIND_HANDLERS: readonly KindHandler[] = [backboneForward, backboneIntermediate, archShapes, preprocessEval, schedule];
