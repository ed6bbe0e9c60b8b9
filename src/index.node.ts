/**
 * The package's `protolens/node` entry: everything of `protolens` (src/index.ts) plus the Node side —
 * CNN feature extraction, feature and model files, the interpretation report, reconstructions of
 * prototypes and adversarial readings through the CNN (TF.js), training embeddings end to end and
 * combining them (docs/embedding.md), the explorer's server, and the native GEMM.
 *
 * Nothing is installed on import: call {@link enableNodeGemm} once to run the model's products in
 * the native addon on every core (or its WebAssembly fallback on worker threads), as the CLI does.
 * @example
 * import { enableNodeGemm, readFeatures, PrototypeClassifier } from 'protolens/node';
 * enableNodeGemm();
 * const fs = readFeatures('features.npy');
 * const model = new PrototypeClassifier({ seed: 1 }).fit(fs.X, fs.labels);
 */
export * from './index.ts';
export { enableNodeGemm, nativeGemmStatus, describeNodeGemm, type NodeGemmChoice } from './linalg/gemm-native.node.ts';
export { readFeatures, writeFeatures } from './data/features.node.ts';
export { openShardStream } from './data/shards.node.ts';
export { openImageDataset, openImageFiles, openImages, listFolder, listZip, listListFile, type ImageDataset } from './data/images.node.ts';
export {
  readModelFile, writeModelFile, readPrototypeModel, checkFeaturesForModel, alignLabels, type InterpretableModel,
} from './data/modelfile.node.ts';
export {
  OutputRefusedError, checkOutputFile, checkOutputFolder, writeOutputFolder, claimOutputFolder,
  type OutputCheck, type OutputFiles,
} from './data/outputs.node.ts';
export { extractDataset, type ExtractDatasetOptions, type ExtractResult } from './features/extract.node.ts';
export { BUILTIN_NAMES } from './features/load.node.ts';
export { ONNX_RECOMMENDED_PREPROCESS_KEY, onnxRecommendedPreprocess } from './features/onnx-backbone.ts';
export { readOnnx, type OnnxModel } from './features/onnx-graph.ts';
export { extractForModel, originBackbone } from './features/for-model.node.ts';
export { predictFiles, type PredictInput, type PredictOptions } from './viz/predict.node.ts';
export { predictionsCsv, predictionsJson, predictionsText, type PredictionResult, type PredictionRow } from './viz/predictions.ts';
export { evaluateFile, type EvaluateFileOptions } from './viz/evaluate.node.ts';
export { environmentReport, environmentText, type EnvironmentReport } from './environment.node.ts';
export { backboneForFeatures, type BackboneForFeaturesOptions } from './features/for-features.node.ts';
export { NoGradientError, featureGradient, batchFeatures, type ImageBatch } from './features/pixel-gradient.ts';
export {
  reconstructPrototype, reconstructPrototypes, RECONSTRUCT_DEFAULTS, type ReconstructOptions, type Reconstruction, type SmallImage, type InterpretedModel,
} from './interpret/reconstruct.ts';
export {
  adversarialReading, crossingSummary, spearman, ATTACK_NORMS, ATTACK_TARGETS,
  type AdversarialOptions, type AdversarialReading, type Crossing, type CrossingStats, type RankCorrelation, type AttackNorm, type AttackTarget,
} from './interpret/adversarial.ts';
export { lensReconstructions, lensReconstruction, lensAdversarial, type LensAdversarialOptions } from './viz/lens.node.ts';
export { crossingSpec, type LensAdversarial, type LensReconstruction } from './viz/lens.ts';
export { fitFile, type FitFileOptions, type FitFileResult } from './select/fit-file.node.ts';
export { labelledFeatures, type FeatureInput, type LabelledFeatures, type LabelledFeaturesOptions } from './features/input.node.ts';
export {
  trainEmbedding, runTraining, type TrainEmbeddingOptions, type RunOptions as TrainingRunOptions, type RunResult as TrainingRunResult,
} from './embedding/run.node.ts';
export { TRAIN_DEFAULTS, type TrainOptions, type EmbeddingHead, type ConvPasses, type StopReason } from './embedding/train.ts';
export { DEFAULT_VAL_GROUPS, DEFAULT_TEST_GROUPS } from './embedding/split.ts';
export { combineEmbeddings, type CombinedEmbedding } from './embedding/io.node.ts';
export { embeddingCardPreprocess } from './features/load.node.ts';
export { renderSvg } from './viz/render.ts';
export { renderReport, renderFigures, type ReportMeta } from './viz/report.ts';
export { writeReport, type WrittenReport } from './viz/report.node.ts';
export { explainToReport, explainModelFile, type ExplainReportOptions, type ExplainedReport } from './viz/explain.node.ts';
export {
  startExplorerServer, type ExplorerSource, type ExplorerServer, type ServerOptions, type Embedder, type ImageStore,
} from './server/server.node.ts';
export { fileSource, digitsSource, type FileSourceOptions, type DigitsOptions } from './server/sources.node.ts';
export { backboneReconstructor, noReconstructor, reconstructorFor, type Reconstructor, type BackboneReconstructorOptions } from './server/reconstruct.node.ts';
