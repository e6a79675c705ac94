import { Type } from 'typebox';
import type { TreeModelFeature } from '../models/treeScore.ts';
import { MAX_TREE_LEVELS, type TreeDataPlan } from './data.ts';

/** Params every tree analysis takes (RevoScaleR's names and defaults). */
export const TreeParamsFields = {
  formula: Type.String({
    minLength: 1,
    description:
      '`y ~ x1 + x2 + F(x3)`: main effects of numeric variables, factors, F() and N(); no in-line functions.',
  }),
  pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
  fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
  minSplit: Type.Optional(
    Type.Integer({
      minimum: 2,
      description:
        'Fewest observations in a node for a split to be tried. Default: max(20, sqrt(number of observations)).',
    }),
  ),
  minBucket: Type.Optional(
    Type.Integer({ minimum: 1, description: 'Fewest observations in a leaf. Default: round(minSplit / 3).' }),
  ),
  maxNumBins: Type.Optional(
    Type.Integer({
      minimum: 2,
      maximum: MAX_TREE_LEVELS,
      description:
        'Most bins per numeric predictor (splits are at bin edges). Default: min(1001, max(101, sqrt(number of observations))).',
    }),
  ),
  maxUnorderedLevels: Type.Optional(
    Type.Integer({
      minimum: 2,
      maximum: MAX_TREE_LEVELS,
      default: 32,
      description: 'Most levels of a factor predictor for a response of more than two classes.',
    }),
  ),
  removeMissings: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'true: drop rows with a missing predictor; false: each split sends them a learned way.',
    }),
  ),
  blocksPerRead: Type.Optional(
    Type.Integer({ minimum: 1, description: 'Accepted for RevoScaleR compatibility.' }),
  ),
  reportProgress: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 3, description: 'Accepted; progress is on the job.' }),
  ),
};

export const TreeFeatureSchema = Type.Object({
  name: Type.String(),
  kind: Type.Enum(['numeric', 'factor']),
});

/** The predictors as a stored model describes them (how to read them from new data). */
export function treeFeatures(data: TreeDataPlan): TreeModelFeature[] {
  return data.features.map((f) => ({ name: f.name, source: f.source, kind: f.kind, levels: f.levels }));
}

/** The predictors as a result lists them. */
export function resultFeatures(data: TreeDataPlan): Array<{ name: string; kind: 'numeric' | 'factor' }> {
  return data.features.map((f) => ({ name: f.name, kind: f.kind }));
}
