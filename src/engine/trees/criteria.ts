/**
 * What a tree node's statistics are and how a split of them is scored. Every histogram bin, node and
 * split side holds the same short vector of sums (`width` numbers):
 *
 * - `class` (rxDTree / rxDForest classification): the case weight of each class, then, with
 *   probability weights, the observation count;
 * - `moments` (anova): sum of weights W, of w*y and of w*y^2, y centred on the response's overall mean
 *   (so the sums stay small), then the count with probability weights;
 * - `gradient` (rxBTrees): sums of gradients G and hessians H (case weights folded in), then the count.
 *
 * `score` is chosen so that a split's improvement is score(left) + score(right) - score(parent):
 * - class: -P(t) I(t), the node's impurity in rpart's scale: rpart's "altered prior" weights a_j (1 with
 *   the default priors and losses) give P(t) = sum_j a_j n_j, p_j = a_j n_j / P(t), and I is Gini
 *   (sum p_j (1 - p_j)) or information (-sum p_j log p_j); the improvement is then exactly rpart's;
 * - moments: S^2 / W, so the improvement is the decrease of the within-node sum of squares;
 * - gradient: G^2 / (H + lambda) / 2, XGBoost's second-order gain with L2 regularisation lambda.
 */
export type Criterion =
  | {
      kind: 'class';
      classes: number;
      impurity: 'gini' | 'information';
      /** rpart's altered priors over relative frequencies: a_j (all 1 with default priors and losses). */
      aprior: number[];
      countStat: boolean;
    }
  | { kind: 'moments'; countStat: boolean }
  | { kind: 'gradient'; lambda: number };

export function statWidth(c: Criterion): number {
  switch (c.kind) {
    case 'class':
      return c.classes + (c.countStat ? 1 : 0);
    case 'moments':
      return 3 + (c.countStat ? 1 : 0);
    case 'gradient':
      return 3;
  }
}

/** Observation count of a stats vector at `at`. */
export function countOf(c: Criterion, s: ArrayLike<number>, at: number): number {
  switch (c.kind) {
    case 'class': {
      if (c.countStat) return s[at + c.classes] as number;
      let n = 0;
      for (let j = 0; j < c.classes; j++) n += s[at + j] as number;
      return n;
    }
    case 'moments':
      return c.countStat ? (s[at + 3] as number) : (s[at] as number);
    case 'gradient':
      return s[at + 2] as number;
  }
}

/** Total case weight of a stats vector (class: sum of class weights; moments: W; gradient: the count). */
export function weightOf(c: Criterion, s: ArrayLike<number>, at: number): number {
  switch (c.kind) {
    case 'class': {
      let w = 0;
      for (let j = 0; j < c.classes; j++) w += s[at + j] as number;
      return w;
    }
    case 'moments':
      return s[at] as number;
    case 'gradient':
      return s[at + 2] as number;
  }
}

/** The split score of a stats vector (see the file comment); larger is better. */
export function scoreOf(c: Criterion, s: ArrayLike<number>, at: number): number {
  switch (c.kind) {
    case 'class': {
      let total = 0;
      const a = c.aprior;
      for (let j = 0; j < c.classes; j++) total += (a[j] as number) * (s[at + j] as number);
      if (!(total > 0)) return 0;
      let impurity = 0;
      if (c.impurity === 'gini') {
        for (let j = 0; j < c.classes; j++) {
          const p = ((a[j] as number) * (s[at + j] as number)) / total;
          impurity += p * (1 - p);
        }
      } else {
        for (let j = 0; j < c.classes; j++) {
          const p = ((a[j] as number) * (s[at + j] as number)) / total;
          if (p > 0) impurity -= p * Math.log(p);
        }
      }
      return -total * impurity;
    }
    case 'moments': {
      const w = s[at] as number;
      if (!(w > 0)) return 0;
      const sum = s[at + 1] as number;
      return (sum * sum) / w;
    }
    case 'gradient':
      return gradientScore(s[at] as number, s[at + 1] as number, c.lambda);
  }
}

/** A boosting side's score from its gradient and hessian sums, regularised by `lambda`. */
export function gradientScore(g: number, h: number, lambda: number): number {
  const hl = h + lambda;
  return hl > 0 ? (g * g) / hl / 2 : 0;
}

/**
 * The value that orders factor levels for the optimal-subset search (Breiman et al.: for two classes
 * and for regression the best subset split is a prefix of the levels sorted by this): rpart's rate of
 * the first class, the mean response, or the Newton step G / (H + lambda).
 */
export function orderKeyOf(c: Criterion, s: ArrayLike<number>, at: number): number {
  switch (c.kind) {
    case 'class': {
      const a = c.aprior;
      let total = 0;
      for (let j = 0; j < c.classes; j++) total += (a[j] as number) * (s[at + j] as number);
      return total > 0 ? (s[at] as number) / total : 0;
    }
    case 'moments':
      return (s[at] as number) > 0 ? (s[at + 1] as number) / (s[at] as number) : 0;
    case 'gradient':
      return (s[at] as number) / ((s[at + 1] as number) + c.lambda);
  }
}

/**
 * rpart's direction statistic: the side with the smaller value becomes the left child (class: the
 * mean class index under the altered priors; moments: the mean response). Presentation only.
 */
export function directionKeyOf(c: Criterion, s: ArrayLike<number>, at: number): number {
  switch (c.kind) {
    case 'class': {
      const a = c.aprior;
      let total = 0;
      let mean = 0;
      for (let j = 0; j < c.classes; j++) total += (a[j] as number) * (s[at + j] as number);
      if (!(total > 0)) return 0;
      for (let j = 0; j < c.classes; j++) mean += (((a[j] as number) * (s[at + j] as number)) / total) * j;
      return mean;
    }
    case 'moments':
      return (s[at] as number) > 0 ? (s[at + 1] as number) / (s[at] as number) : 0;
    case 'gradient':
      return 0;
  }
}
