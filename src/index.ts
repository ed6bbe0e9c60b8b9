/**
 * protolens: prototype-based interpretation of CNN feature spaces.
 *
 * The package's `.` entry: the model, its baselines, feature preprocessing, model selection, the
 * interpretation, and the joining of trained embeddings' model files ({@link concatEmbeddings}),
 * all browser-safe (no Node imports, no TF.js, no Vega). The Node side (feature
 * extraction, feature and model files, reports, the explorer's server) is the `protolens/node`
 * entry (src/index.node.ts), which re-exports this one.
 */
export { VERSION } from './version.ts';
export * from './linalg/matrix.ts';
export { gemm, gemmBackendName, gemmBackendStatus } from './linalg/gemm.ts';
export { rng, type Rng } from './linalg/random.ts';
export * from './model/types.ts';
export {
  PrototypeClassifier, METRICS, DEFAULT_ALPHA,
  type PrototypeOptions, type Explanation, type PrototypeContribution, type MetricKind, type TauOption, type SampleNovelty,
} from './model/prototype.ts';
export {
  NOVELTY_SCORES, DEFAULT_NOVELTY_SCORE, DEFAULT_FALSE_REJECTION, checkNoveltyScore, noveltyStats, noveltyScores, rejectionThreshold, noveltyReason,
  type NoveltyScoreKind, type NoveltyStats, type NoveltyResult, type RejectionRule,
} from './model/novelty.ts';
export {
  expectedCalibrationError, eceSamplingFloor, fitTemperature, temperatureObjective, CALIBRATION_OBJECTIVES, checkCalibrationObjective, type CalibrationObjective, DEFAULT_TEMPERATURE_PRIOR, DEFAULT_SOFTENING_PRIOR, temperedSoftmax, calibrationRecord,
  fitMarginTemperature, fitMarginTemperatureAround, composeMarginTemperatures, DEFAULT_CENTRE_PRIOR_PER_SAMPLE, DEFAULT_CENTRE_EXPONENT_PRIOR, type TemperatureCentre, type CentredTemperatureOptions, sampleTemperatures, logitMargins, DEFAULT_MARGIN_PRIOR, MARGIN_EXPONENT_LIMIT, type MarginTemperature, type MarginTemperatureOptions,
  type CalibrationError, type EceFloor, type CalibrationOptions, type CalibrationRecord, type ReliabilityBin, type HeldOutOutputs, type TemperatureOptions,
} from './model/calibration.ts';
export {
  NearestClassMean, SoftmaxRegression, KNearestNeighbors,
  type NearestClassMeanOptions, type SoftmaxRegressionOptions, type KNearestNeighborsOptions,
} from './model/baselines.ts';
export {
  FeatureTransform, Pipeline, PREPROCESS_METHODS, PREPROCESS_CHOICES, DEFAULT_PREPROCESS, checkPreprocessMethod, checkPreprocessChoice,
  checkRecommendedPreprocess, type PreprocessMethod, type PreprocessChoice, type FeatureTransformJSON,
} from './model/preprocess.ts';
export { fitStreamed, memoryChunks, type Chunk, type ChunkSource, type StreamedOptions } from './model/streamed.ts';
export { loadModel } from './model/io.ts';
export { accuracy, encodeLabels } from './model/labels.ts';
export {
  PrototypeClassifierCV, DEFAULT_SEARCH_GRID, stratifiedFolds,
  type SearchGrid, type SearchRecord, type SearchCandidate, type PrototypeCVOptions,
} from './select/cv.ts';
export {
  confusionMatrix, classMetrics, evaluateClassifiers,
  type Evaluation, type ClassifierEvaluation, type ClassMetrics, type EvaluationSplit, type Candidate, type EvaluateOptions,
} from './select/evaluate.ts';
export { calibrateByCrossFitting, outOfFoldOutputs, type CrossFitOptions } from './select/calibrate.ts';
export {
  runFewShot, evaluateTask, selectOnTask, sampleTask, taskSeed, FEWSHOT_METHODS,
  type FewShotMethod, type FewShotOptions, type FewShotTask, type FewShotResult, type TaskResult, type TaskChoice, type FittedModel, type TaskHooks,
} from './select/fewshot.ts';
export { CALIBRATION_METHODS, calibrationCentres, otherTasks, classLogits, settingKey, type CalibrationMethod } from './select/fewshot-calibration.ts';
export * from './interpret/index.ts';
export { figure1Spec, weightsSpec, type VegaLiteSpec, type Figure1Options, type WeightsOptions } from './viz/specs.ts';
export { choosePictures, findingPrototypes, PICTURE_SIDE, type PictureKind, type PictureSources, type PrototypePictures } from './viz/pictures.ts';
export { placeLabels, textWidth, type Box, type LabelRequest, type PlacedLabel, type PlaceOptions } from './viz/labels.ts';
export { encodeNpy, decodeNpy } from './data/npy.ts';
export type { FeatureSet, FeatureMeta } from './data/featurefile.ts';
export { resolvePreprocess, recommendedPreprocess, RECOMMENDED_PREPROCESS_FIELD } from './data/featurefile.ts';
export { twistedClasses, hiddenDirections, stratifiedSplit, type SyntheticData, type SyntheticOptions } from './data/synthetic.ts';
export { concatEmbeddings, type EmbeddingParts, type LayersModelJson } from './embedding/ensemble.ts';
