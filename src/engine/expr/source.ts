import { EngineError } from '../errors.ts';
import { suggestName } from '../formula/suggest.ts';

/**
 * Where an expression came from, so every error can say which one failed and where in it
 * (`transforms.logDelay: unknown variable 'dealy' at column 5; did you mean 'delay'?`).
 */
export interface Source {
  readonly text: string;
  /** `transforms.<name>` or `rowSelection`; undefined for a formula's in-line term. */
  readonly field: string | undefined;
  /** The transform's name (transforms only). */
  readonly name: string | undefined;
}

/** Limits that keep hostile input from costing more than a 400 (no stack overflow, no huge compile). */
export const LIMITS = {
  /** Characters in one expression. */
  expressionLength: 10_000,
  /** Nested parentheses, calls and prefix operators (the parser's recursion). */
  nesting: 100,
  /** Height of the expression tree, so long operator chains (`a + b + ... `) stay far from the stack limit. */
  height: 1000,
  /** Transforms in one request. */
  transforms: 1000,
  /** Characters in a transform's (new variable's) name. */
  nameLength: 255,
} as const;

function prefix(source: Source): string {
  return source.field === undefined ? '' : `${source.field}: `;
}

function context(source: Source): Record<string, unknown> {
  return {
    expression: source.text,
    ...(source.field === undefined ? {} : { field: source.field }),
    ...(source.name === undefined ? {} : { name: source.name }),
  };
}

/** Syntax (and other malformed-expression) errors: 400 INVALID_EXPRESSION with the 1-based column. */
export function syntaxError(source: Source, message: string, column: number): EngineError {
  return new EngineError('INVALID_EXPRESSION', `${prefix(source)}${message} at column ${column}`, 400, {
    ...context(source),
    column,
  });
}

/** A limit exceeded before parsing starts (no column to point at). */
export function limitError(
  source: Source,
  message: string,
  limit: number,
  extra: Record<string, unknown> = {},
): EngineError {
  return new EngineError('INVALID_EXPRESSION', `${prefix(source)}${message}`, 400, {
    ...context(source),
    limit,
    ...extra,
  });
}

export function unknownVariable(
  source: Source,
  name: string,
  column: number,
  known: readonly string[],
): EngineError {
  const suggestion = suggestName(name, known);
  const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
  return new EngineError(
    'UNKNOWN_VARIABLE',
    `${prefix(source)}unknown variable '${name}' at column ${column}${hint}`,
    400,
    { ...context(source), variable: name, column, ...(suggestion === undefined ? {} : { suggestion }) },
  );
}

export function unknownFunction(
  source: Source,
  name: string,
  column: number,
  known: readonly string[],
  why = '',
): EngineError {
  const suggestion = why === '' ? suggestName(name, known) : undefined;
  const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
  return new EngineError(
    'UNKNOWN_FUNCTION',
    `${prefix(source)}unknown function '${name}' at column ${column}${why}${hint}`,
    400,
    { ...context(source), function: name, column, ...(suggestion === undefined ? {} : { suggestion }) },
  );
}

/** Well-formed but not computable on these types: 422 WRONG_VARIABLE_TYPE. */
export function typeError(source: Source, message: string, column: number): EngineError {
  return new EngineError('WRONG_VARIABLE_TYPE', `${prefix(source)}${message} at column ${column}`, 422, {
    ...context(source),
    column,
  });
}
