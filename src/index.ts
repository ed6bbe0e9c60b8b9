/**
 * protolens: prototype-based interpretation of CNN feature spaces.
 * Browser-safe entry point (no Node imports). Node adapters live under src/cli and `*.node.ts` files.
 */
export { VERSION } from './version.ts';
export * from './linalg/matrix.ts';
export { gemm, gemmBackendName, gemmBackendStatus } from './linalg/gemm.ts';
export { rng, type Rng } from './linalg/random.ts';
export * from './model/types.ts';
export { PrototypeClassifier, type PrototypeOptions, type Explanation, type PrototypeContribution } from './model/prototype.ts';
export { NearestClassMean, SoftmaxRegression, KNearestNeighbors } from './model/baselines.ts';
export { loadModel } from './model/io.ts';
export { accuracy, encodeLabels } from './model/labels.ts';
export { twistedClasses, stratifiedSplit, type SyntheticData, type SyntheticOptions } from './data/synthetic.ts';
