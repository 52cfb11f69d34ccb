/** dinov2-ts public API. */
export { Tensor, type DType } from './tensor.js';
export { Dinov2, type ForwardFeaturesOutput, type IntermediateLayersOptions, type IntermediateLayer, type ModelOptions } from './models/dinov2.js';
export { loadBackbone, detectConfig, backboneFromSource, type LoadOptions } from './models/load.js';
export { hubConfig, makeConfig, HUB_MODELS, isHubModelName, type BackboneConfig, type HubModelName } from './models/config.js';
export { randomBackboneWeights } from './models/randomWeights.js';
export { backboneStateDictShapes, parameterCount } from './models/stateDictShapes.js';
export { openWeights, checkStateDict } from './weights/open.js';
export type { WeightSource, TensorEntry, StorageDType } from './weights/types.js';
export { decodeImage, type DecodeOptions } from './data/decode.js';
export { evalTransform, denseTransform, denseSize, batchTensors, IMAGENET_MEAN, IMAGENET_STD } from './data/transforms.js';
export type { RgbImage } from './data/image.js';
export { resize, type ResampleFilter } from './data/resample.js';
export { compileGraph, type Device, type RuntimeOptions, CompiledGraph } from './graph/runtime.js';
export { GraphBuilder, Sym } from './graph/builder.js';
export { runConformance } from './conformance/run.js';
