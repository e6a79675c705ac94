/**
 * The safe expression language of `transforms` and `rowSelection` (RevoScaleR's, with R's semantics):
 * text is parsed to an AST, type-checked against the dataset's variables and compiled to block-wise
 * loops over typed arrays. Nothing the user writes is ever evaluated as JavaScript.
 */
export { type CompiledExpression, compileExpression } from './expression.ts';
export { compileRowOps, type RowOps, type RowOpsSpec } from './rowOps.ts';
export { LIMITS as EXPRESSION_LIMITS } from './source.ts';
