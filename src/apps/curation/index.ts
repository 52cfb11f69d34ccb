/** Clustering-based data curation (Vo et al. 2024): k-means with resampling, balanced hierarchical sampling. */
export { curate, type CurateOptions, type CurateResult } from './curate.js';
export { kmeans, type KmeansOptions, type KmeansProgress, type KmeansResult } from './kmeans.js';
export { hierarchicalKmeans, type HierarchicalKmeansOptions, type HierarchyProgress } from './hierarchicalKmeans.js';
export type { LevelConfig, LevelResult } from './resampledKmeans.js';
export { hierarchicalSampling, type ClusterLevel, type SamplingOptions, type SamplingStrategy } from './hierarchicalSampling.js';
export { splitBudget, waterLevel } from './waterFilling.js';
export { DistanceKernels } from './distanceGraph.js';
