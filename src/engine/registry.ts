import { bTrees } from './analyses/bTrees.ts';
import { covCor } from './analyses/covCor.ts';
import { dForest } from './analyses/dForest.ts';
import { dTree } from './analyses/dTree.ts';
import { quantile } from './analyses/quantile.ts';
import { summary } from './analyses/summary.ts';
import type { AnyAnalysis } from './analysis.ts';

/** Every analysis the engine runs, by its job `type` (RevoScaleR's name without `rx`). */
export const analyses: Record<string, AnyAnalysis> = {
  summary,
  quantile,
  covCor,
  dTree,
  dForest,
  bTrees,
};

/** The analysis for a job type; undefined for an unknown type (own keys only, so 'toString' is unknown). */
export function getAnalysis(type: string): AnyAnalysis | undefined {
  return Object.hasOwn(analyses, type) ? analyses[type] : undefined;
}
