import { bTrees } from './analyses/bTrees.ts';
import { covCor } from './analyses/covCor.ts';
import { crossTabs } from './analyses/crossTabs.ts';
import { cube } from './analyses/cube.ts';
import { dForest } from './analyses/dForest.ts';
import { dTree } from './analyses/dTree.ts';
import { exec } from './analyses/exec.ts';
import { glm } from './analyses/glm.ts';
import { kmeans } from './analyses/kmeans.ts';
import { linMod } from './analyses/linMod.ts';
import { logit } from './analyses/logit.ts';
import { naiveBayes } from './analyses/naiveBayes.ts';
import { predict } from './analyses/predict.ts';
import { quantile } from './analyses/quantile.ts';
import { summary } from './analyses/summary.ts';
import type { AnyAnalysis } from './analysis.ts';
import { dataStep } from './dataOps/dataStep.ts';
import { factors } from './dataOps/factors.ts';
import { merge } from './dataOps/merge.ts';
import { sort } from './dataOps/sort.ts';
import { split } from './dataOps/split.ts';

/** Every analysis the engine runs, by its job `type` (RevoScaleR's name without `rx`). */
export const analyses: Record<string, AnyAnalysis> = {
  summary,
  quantile,
  covCor,
  dataStep,
  factors,
  split,
  sort,
  merge,
  cube,
  crossTabs,
  linMod,
  logit,
  glm,
  predict,
  kmeans,
  naiveBayes,
  exec,
  dTree,
  dForest,
  bTrees,
};

/** The analysis for a job type; undefined for an unknown type (own keys only, so 'toString' is unknown). */
export function getAnalysis(type: string): AnyAnalysis | undefined {
  return Object.hasOwn(analyses, type) ? analyses[type] : undefined;
}
