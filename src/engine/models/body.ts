import { type Static, Type } from 'typebox';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { type ModelMatrixPlan, sourceInputs } from '../formula/index.ts';

/**
 * What a fitted linear or generalized linear model (rxLinMod, rxLogit, rxGlm) stores as its
 * `StoredModel.body`: everything `GET /v1/models/{id}` shows and everything scoring (score.ts) needs,
 * as plain JSON. One layout for the three analyses, so one scoring path serves them all:
 *
 *   eta = X beta  (X built from `plan` exactly as in training),   prediction = linkInverse(eta)
 *
 * linMod writes family 'gaussian', link 'identity', dispersion sigma^2. logit/glm write their family and
 * link (R's names: glm/links.ts implements them, and scoring uses those implementations) and their dispersion (1 when fixed).
 *
 * How a fitting analysis fills it:
 * - `plan`: its ModelMatrixPlan as planned for training (levels, dropped reference columns, labels). The
 *   plan's `weights` stay as they were (documentation); scoring ignores them.
 * - `variables`: the training dataset's VarInfo of every variable the plan reads, the weight excluded
 *   (`trainingVariables` below). Scoring checks a new dataset against these and maps factor levels
 *   by label onto these levels.
 * - `responses`: one entry per response (cbind: several, in order), coefficients in `plan.columns` order.
 */

/** Version of this layout; scoring refuses a body of a version it does not know. */
export const LINEAR_MODEL_BODY_VERSION = 1;

/** Link functions scoring can invert (R's names). `power` uses `linkPower`. */
export const LINK_NAMES = [
  'identity',
  'log',
  'logit',
  'probit',
  'cloglog',
  'cauchit',
  'inverse',
  '1/mu^2',
  'sqrt',
  'power',
] as const;
export type LinkName = (typeof LINK_NAMES)[number];

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

/**
 * One coefficient as results and model views show it. Aliased (collinear) and dropped (a factor's
 * reference level, RevoScaleR's "Dropped") coefficients have `aliased: true` and nulls.
 */
export const CoefficientRowSchema = Type.Object(
  {
    term: Type.String({ description: "Coefficient label in the model's coefLabelStyle" }),
    estimate: NullableNumber,
    stdError: NullableNumber,
    statistic: Type.Union([Type.Number(), Type.Null()], {
      description: 't value (z for GLMs with a fixed dispersion)',
    }),
    pValue: NullableNumber,
    aliased: Type.Boolean({ description: 'Dropped reference level or collinear term: no estimate' }),
  },
  // No $id: result schemas of several analyses embed it, and one $id may be registered only once.
);
export type CoefficientRow = Static<typeof CoefficientRowSchema>;

/** The fit of one response. */
export interface ModelResponseFit {
  /** The response's label as written (`y`, `log(y)`): predictions are `<response>_Pred`. */
  response: string;
  /** One per `plan.columns` (intercept and dropped reference levels included), in that order. */
  coefficients: CoefficientRow[];
  /** sigma^2 for linMod; the GLM dispersion (1 when fixed). Null when not estimable (no residual df). */
  dispersion: number | null;
  dfResidual: number;
  /**
   * (X'WX)^-1 over the ESTIMATED coefficients (those with `aliased: false`, in coefficient order),
   * row-major, unscaled: Var(beta) = dispersion * covUnscaled. Standard errors and intervals of
   * predictions need it. Null when not kept (large models fitted without `covCoef`).
   */
  covUnscaled: number[] | null;
}

export interface LinearModelBody {
  version: typeof LINEAR_MODEL_BODY_VERSION;
  /** 'gaussian' (linMod), 'binomial' (logit), or the glm family name. */
  family: string;
  link: LinkName;
  /** The power of a `power` link (mu^linkPower; tweedie's link.power); null for other links. */
  linkPower: number | null;
  /**
   * True when the dispersion is fixed (binomial, poisson): z statistics and normal quantiles for
   * intervals. False: estimated, t with `dfResidual`.
   */
  dispersionFixed: boolean;
  /** The training model matrix: terms, columns (labels, dropped reference levels), levels, responses. */
  plan: ModelMatrixPlan;
  /** Training VarInfo of each variable the plan reads (not the weight). */
  variables: VarInfo[];
  responses: ModelResponseFit[];
  /** RevoScaleR's cube regression (first term one coefficient per cell, no intercept). */
  cube: boolean;
  /**
   * GLM offset as written (a variable name or in-line expression), added to eta; null or absent
   * without one. Scoring plans it again against the data it scores, which must hold its variables.
   */
  offset?: string | null;
  nValidObs: number;
  nMissingObs: number;
}

/** Type guard for bodies read back from the model store (JSON of unknown age). */
export function isLinearModelBody(body: unknown): body is LinearModelBody {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Partial<LinearModelBody>;
  return (
    b.version === LINEAR_MODEL_BODY_VERSION &&
    typeof b.family === 'string' &&
    typeof b.link === 'string' &&
    (LINK_NAMES as readonly string[]).includes(b.link) &&
    typeof b.plan === 'object' &&
    Array.isArray(b.variables) &&
    Array.isArray(b.responses)
  );
}

/** Names of the variables a plan's predictors read (no responses, no weight), in first-use order. */
export function predictorVariables(plan: ModelMatrixPlan): string[] {
  return [...new Set(plan.terms.flatMap((t) => t.sources.flatMap(sourceInputs)))];
}

/** Names of the variables a plan's responses read. */
export function responseVariables(plan: ModelMatrixPlan): string[] {
  return [...new Set(plan.responses.flatMap((r) => sourceInputs(r.source)))];
}

/** The VarInfo of the variables a plan reads (responses and predictors; not the weight), in the dataset's order. */
export function trainingVariables(plan: ModelMatrixPlan, variables: readonly VarInfo[]): VarInfo[] {
  const wanted = new Set([...responseVariables(plan), ...predictorVariables(plan)]);
  return variables.filter((v) => wanted.has(v.name));
}

/**
 * Most estimated coefficients for which `covUnscaled` is always stored (40,000 numbers); larger
 * models store it only when fitted with `covCoef: true` (RevoScaleR needs covCoef for rxPredict's
 * standard errors in every case).
 */
export const MAX_STORED_COVARIANCE = 200;
