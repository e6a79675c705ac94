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
