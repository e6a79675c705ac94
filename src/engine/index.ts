export {
  type CovCorParams,
  CovCorParamsSchema,
  type CovCorResult,
  CovCorResultSchema,
  covCor,
} from './analyses/covCor.ts';
export {
  type ExecParams,
  ExecParamsSchema,
  type ExecResult,
  ExecResultSchema,
  exec,
} from './analyses/exec.ts';
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
export { analyses, getAnalysis } from './registry.ts';
export { type ChunkSource, type RunOptions, runInProcess, runInProcessDetailed } from './runInProcess.ts';
