/**
 * Interpretation of a fitted prototype model: browser-safe, pure functions from a model and
 * labelled samples to plain JSON. Per-sample explanations are the model's own `explain(x)`
 * (src/model/prototype.ts); rules and formulas are in docs/interpretation.md.
 */
export { analyzeModel, groupSeparation, type AnalyzeOptions } from './analyze.ts';
export { findingRules, findings, type AnalysisFacts } from './findings.ts';
export { nearestIndices } from './nearest.ts';
export { pca, project, symmetricEigen, type PCAResult, type PCAOptions } from './pca.ts';
export * from './types.ts';
