/**
 * The safe expression language of `transforms` and `rowSelection` (RevoScaleR's, with R's semantics):
 * text is parsed to an AST, type-checked against the dataset's variables and compiled to block-wise
 * loops over typed arrays. Nothing the user writes is ever evaluated as JavaScript, and names are only
 * ever looked up in Maps.
 *
 * The language, briefly (R's rules unless said otherwise):
 * - Values: numbers (1e-3, .5, 0x1F, 10L), strings "..." / '...' with R's escapes, TRUE FALSE T F NA
 *   NA_real_ NA_integer_ NA_character_ Inf NaN pi; variables by name or `backquoted`.
 * - Operators: + - * / ^ %% %/% (integer op integer stays integer, overflow is NA), == != < <= > >=,
 *   ! & | && || (three-valued; && and || are elementwise like & and |), %in% c(...).
 * - Functions: log(x, base) log10 log2 log1p exp expm1 sqrt abs floor ceiling trunc sign sin cos tan,
 *   round(x, digits) (R >= 4: exact halves to even, else the nearer candidate), pow(x, y), I(x),
 *   pmin pmax, ifelse, is.na, cut(x, breaks, labels, include.lowest, right, dig.lab), factor(x, levels,
 *   labels), as.factor, as.numeric/as.double, as.integer (truncates), as.character, as.logical, as.Date,
 *   and UTC calendar parts year month day hour minute second quarter dayOfYear (integers) and dayOfWeek
 *   (a factor with levels Monday ... Sunday).
 * - Dates are days, timestamps UTC ms: date +- days, date - date = days, timestamp +- seconds,
 *   timestamp - timestamp = seconds, comparisons with "YYYY-MM-DD[ HH:MM:SS]" text.
 * - NA: NaN counts as NA everywhere (is.na(0/0) is TRUE; rxserve stores no NaN). NA %in% c(NA) is TRUE.
 *
 * Where rxserve differs from R, because a chunk must never decide a level list or a type:
 * - ifelse() whose branches are factors or string constants gives a factor (levels: yes's, then no's
 *   new ones) where R gives a character vector (or a factor's codes); other text branches give a string.
 * - factor(f) keeps all of f's levels (R drops unused ones); factor(<logical>) has levels FALSE, TRUE;
 *   factor() of text or numbers needs levels = c(...). cut() needs explicit breaks, not a count.
 * - Aggregates (mean, sum, min, ...) and random numbers are refused: they would be per chunk.
 * - Transforms see earlier transforms (in key order; note that JSON keys that are integers come first
 *   in JavaScript's object order), where R's list() would not.
 */
export { type CompiledExpression, compileExpression } from './expression.ts';
export { compileRowOps, type RowOps, type RowOpsSpec } from './rowOps.ts';
export { LIMITS as EXPRESSION_LIMITS } from './source.ts';
