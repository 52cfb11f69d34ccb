/** The weight-format adapters: read any DINOv2 checkpoint under the official key names, or write one. */
export type { FileExtent, StorageDType, TensorEntry, WeightFormat, WeightSource } from './types.js';
export { BYTES_PER_ELEMENT } from './types.js';
export { openWeights, checkStateDict, type CheckOptions } from './open.js';
export { SafetensorsFile } from './safetensors.js';
export { writeSafetensors } from './safetensorsWriter.js';
export { PthFile, writePth } from './pth.js';
export { HfFolder, writeHfFolder } from './hfFolder.js';
export { hfConfigToBackboneConfig, backboneConfigToHf, type BackboneConfig } from '../models/hfConfig.js';
export { hfToOfficial, officialToHf } from './hfKeys.js';
export { selectStateDict, type KeySelection } from './stateDictKeys.js';
export { RenamedSource } from './renamed.js';
export { sourceItems, type TensorItem, type TensorItems, type TensorData } from './tensorItem.js';
export type { TorchTensorRef, TorchStorageRef } from './torchPickle.js';
