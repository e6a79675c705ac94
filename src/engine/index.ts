export {
  type BTreesParams,
  BTreesParamsSchema,
  type BTreesResult,
  BTreesResultSchema,
  bTrees,
} from './analyses/bTrees.ts';
export {
  type CovCorParams,
  CovCorParamsSchema,
  type CovCorResult,
  CovCorResultSchema,
  covCor,
} from './analyses/covCor.ts';
export {
  type CrossTabsParams,
  CrossTabsParamsSchema,
  type CrossTabsResult,
  CrossTabsResultSchema,
  crossTabs,
} from './analyses/crossTabs.ts';
export {
  type CubeParams,
  CubeParamsSchema,
  type CubeResult,
  CubeResultSchema,
  cube,
} from './analyses/cube.ts';
export {
  type DForestParams,
  DForestParamsSchema,
  type DForestResult,
  DForestResultSchema,
  dForest,
} from './analyses/dForest.ts';
export {
  type DTreeParams,
  DTreeParamsSchema,
  type DTreeResult,
  DTreeResultSchema,
  dTree,
} from './analyses/dTree.ts';
export {
  type ExecParams,
  ExecParamsSchema,
  type ExecResult,
  ExecResultSchema,
  exec,
} from './analyses/exec.ts';
export {
  type GlmParams,
  GlmParamsSchema,
  GlmResultSchema,
  glm,
} from './analyses/glm.ts';
export type { GlmResult } from './analyses/glmCommon.ts';
export {
  type KmeansParams,
  KmeansParamsSchema,
  type KmeansResult,
  KmeansResultSchema,
  kmeans,
} from './analyses/kmeans.ts';
export {
  type LinModParams,
  LinModParamsSchema,
  type LinModResult,
  LinModResultSchema,
  linMod,
} from './analyses/linMod.ts';
export { type LogitParams, LogitParamsSchema, logit } from './analyses/logit.ts';
export {
  type NaiveBayesParams,
  NaiveBayesParamsSchema,
  type NaiveBayesResult,
  NaiveBayesResultSchema,
  naiveBayes,
} from './analyses/naiveBayes.ts';
export {
  type PredictParams,
  PredictParamsSchema,
  type PredictResult,
  PredictResultSchema,
  predict,
} from './analyses/predict.ts';
export {
  type QuantileParams,
  QuantileParamsSchema,
  type QuantileResult,
  QuantileResultSchema,
  quantile,
} from './analyses/quantile.ts';
export {
  type SummaryParams,
  SummaryParamsSchema,
  type SummaryResult,
  SummaryResultSchema,
  summary,
} from './analyses/summary.ts';
export type { Analysis, AnyAnalysis, Chunk, FinalizeOutcome, MapContext } from './analysis.ts';
export { decodePartial, encodePartial } from './codec.ts';
export { type DataStepResult, DataStepResultSchema, dataStep } from './dataOps/dataStep.ts';
export { factors } from './dataOps/factors.ts';
export { type SplitResult, SplitResultSchema, split } from './dataOps/split.ts';
export { EngineError } from './errors.ts';
export {
  type BTreesModelBody,
  boostedScores,
  type CompactTree,
  type DForestModelBody,
  type DTreeModelBody,
  leafIndexes,
  predictBTrees,
  predictDForest,
  predictDTree,
  predictTrees,
  readScoringColumns,
  type TreeModelBody,
  type TreeModelFeature,
  type TreePredictions,
} from './models/treeScore.ts';
export { analyses, getAnalysis } from './registry.ts';
export { type ChunkSource, type RunOptions, runInProcess, runInProcessDetailed } from './runInProcess.ts';
