import type { DatasetMeta, VarInfo, VarType } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from './suggest.ts';

/**
 * A deliberately small formula parser for summary / quantile / covCor. The full RevoScaleR formula
 * language (F(), N(), in-line transforms, `*`, cbind) arrives with its own issue and replaces this file;
 * everything here is reachable only through `parseSummaryFormula`.
 *
 * Grammar (whitespace anywhere between tokens):
 *
 *   formula := [ name ] '~' rhs
 *   rhs     := term ( '+' term )*
 *   term    := '.' | name ( ':' name )*
 *   name    := R name (letters, digits, '.', '_'; starts with a letter or '.') | `backquoted name`
 *
 * Semantics (RevoScaleR's rxSummary):
 * - `~ x + g`: one term per name; a numeric-like variable gets statistics, a factor gets level counts.
 * - `~ y:g1:g2`: y's statistics per cell of the factors g1 x g2 (exactly one numeric per term; the
 *   factors, in the order written, are the groups). All-factor terms (`~ g1:g2`) give cell counts.
 * - `y ~ rhs`: the response is interacted with the FIRST rhs term (`y ~ g + h` = `~ y:g + h`), as
 *   RevoScaleR documents.
 * - `~ .`: every variable except strings (and except `exclude`, e.g. the weight variables), in dataset
 *   order. Terms are kept in the order written; a repeated term is kept once.
 *
 * Errors (EngineError): `INVALID_FORMULA` (400, with the 1-based column), `UNKNOWN_VARIABLE` (400, with
 * the nearest name by edit distance), `WRONG_VARIABLE_TYPE` (422: the formula is well-formed but a
 * variable's type does not fit the term, e.g. a string, or a numeric used as a group).
 */

/** Variable types summarised as numbers (logical as 0/1, dates as days, timestamps as ms). */
export const NUMERIC_LIKE_TYPES: readonly VarType[] = ['numeric', 'integer', 'logical', 'date', 'timestamp'];

export type SummaryTerm =
  /** Statistics of one numeric-like variable. */
  | { kind: 'numeric'; label: string; variable: string }
  /** Counts per cell of one or more factors (first factor varies fastest). */
  | { kind: 'factor'; label: string; factors: string[] }
  /** Statistics of `variable` per cell of the `groups` factors. */
  | { kind: 'byGroup'; label: string; variable: string; groups: string[] };

export interface ParsedSummaryFormula {
  terms: SummaryTerm[];
  /** Every variable the terms read, in first-use order. */
  variables: string[];
  /** 1-based column of the first `.`, or null when the formula has none. */
  dotColumn: number | null;
  /** The response before `~`, if any (already folded into the first term). */
  response: string | null;
}

export interface ParseOptions {
  /** Variables `.` leaves out (weights). */
  exclude?: readonly string[];
  /** False for analyses that take no response (covCor): `y ~ x` is then INVALID_FORMULA. @defaultValue true */
  allowResponse?: boolean;
  /** False for analyses that do not expand `.`. @defaultValue true */
  allowDot?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Tokens

type TokenKind = 'name' | 'dot' | 'tilde' | 'plus' | 'colon' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  /** 1-based column of the token's first character. */
  column: number;
}

function invalid(message: string, column: number, formula: string): EngineError {
  return new EngineError('INVALID_FORMULA', `${message} at column ${column}`, 400, { formula, column });
}

const NAME_START = /[A-Za-z.]/;
const NAME_PART = /[A-Za-z0-9._]/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    const column = i + 1;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
    } else if (ch === '~' || ch === '+' || ch === ':') {
      tokens.push({ kind: ch === '~' ? 'tilde' : ch === '+' ? 'plus' : 'colon', text: ch, column });
      i++;
    } else if (ch === '`') {
      const close = text.indexOf('`', i + 1);
      if (close < 0) throw invalid('unclosed backquote', column, text);
      const name = text.slice(i + 1, close);
      if (name.length === 0) throw invalid('empty backquoted name', column, text);
      tokens.push({ kind: 'name', text: name, column });
      i = close + 1;
    } else if (NAME_START.test(ch)) {
      let j = i + 1;
      while (j < text.length && NAME_PART.test(text[j] as string)) j++;
      const name = text.slice(i, j);
      if (name === '.') {
        tokens.push({ kind: 'dot', text: name, column });
      } else if (/^\.[0-9]/.test(name)) {
        throw invalid(`'${name}' is a number, not a variable name`, column, text);
      } else {
        tokens.push({ kind: 'name', text: name, column });
      }
      i = j;
    } else if (ch === '(') {
      // Point at the function's name when there is one: F(x) reads better as 'F() at column 3'.
      const previous = tokens[tokens.length - 1];
      const isCall = previous?.kind === 'name' && previous.column + previous.text.length === column;
      const fn = isCall && previous !== undefined ? `${previous.text}()` : "'('";
      const at = isCall && previous !== undefined ? previous.column : column;
      throw invalid(`${fn}: functions and parentheses are not supported in this formula yet`, at, text);
    } else if (ch === '*' || ch === '-' || ch === '|' || ch === '^' || ch === '/') {
      throw invalid(`operator '${ch}' is not supported here (use '+' and ':')`, column, text);
    } else {
      throw invalid(`unexpected character '${ch}'`, column, text);
    }
  }
  tokens.push({ kind: 'end', text: '', column: text.length + 1 });
  return tokens;
}

// ---------------------------------------------------------------------------------------------------
// Syntax

interface NameRef {
  name: string;
  column: number;
}
type RawTerm = { dot: true; column: number } | { dot: false; names: NameRef[]; column: number };

interface RawFormula {
  response: NameRef | null;
  terms: RawTerm[];
}

function parseSyntax(text: string): RawFormula {
  if (text.trim().length === 0) throw invalid('the formula is empty', 1, text);
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): Token => tokens[at] as Token;
  const next = (): Token => tokens[at++] as Token;

  let response: NameRef | null = null;
  if (peek().kind === 'name') {
    const t = next();
    response = { name: t.text, column: t.column };
  }
  const tilde = next();
  if (tilde.kind !== 'tilde') {
    throw invalid(
      tilde.kind === 'end' ? "expected '~'" : `expected '~' but found '${tilde.text}'`,
      tilde.column,
      text,
    );
  }

  const terms: RawTerm[] = [];
  for (;;) {
    const first = next();
    if (first.kind === 'dot') {
      terms.push({ dot: true, column: first.column });
    } else if (first.kind === 'name') {
      const names: NameRef[] = [{ name: first.text, column: first.column }];
      while (peek().kind === 'colon') {
        next();
        const t = next();
        if (t.kind !== 'name') {
          throw invalid(
            t.kind === 'end'
              ? "expected a variable after ':'"
              : `expected a variable after ':' but found '${t.text}'`,
            t.column,
            text,
          );
        }
        names.push({ name: t.text, column: t.column });
      }
      terms.push({ dot: false, names, column: first.column });
    } else if (first.kind === 'end') {
      throw invalid(
        terms.length === 0 ? "expected a term after '~'" : "expected a term after '+'",
        first.column,
        text,
      );
    } else {
      throw invalid(`expected a variable but found '${first.text}'`, first.column, text);
    }
    const sep = next();
    if (sep.kind === 'end') break;
    if (sep.kind !== 'plus')
      throw invalid(`expected '+' or the end but found '${sep.text}'`, sep.column, text);
  }
  return { response, terms };
}

// ---------------------------------------------------------------------------------------------------
// Names

/** Looks a variable up by exact name; throws UNKNOWN_VARIABLE with a suggestion otherwise. */
export function lookupVariable(meta: DatasetMeta, name: string, column?: number): VarInfo {
  const found = meta.variables.find((v) => v.name === name);
  if (found !== undefined) return found;
  const suggestion = suggestName(
    name,
    meta.variables.map((v) => v.name),
  );
  const where = column === undefined ? '' : ` at column ${column}`;
  const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
  throw new EngineError('UNKNOWN_VARIABLE', `unknown variable '${name}'${where}${hint}`, 400, {
    variable: name,
    ...(column === undefined ? {} : { column }),
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

function wrongType(message: string, variable: string, column: number): EngineError {
  return new EngineError('WRONG_VARIABLE_TYPE', `${message} (column ${column})`, 422, { variable, column });
}

// ---------------------------------------------------------------------------------------------------
// Terms

function termFromNames(names: readonly NameRef[], meta: DatasetMeta, text: string): SummaryTerm {
  const seen = new Set<string>();
  const numeric: NameRef[] = [];
  const factors: NameRef[] = [];
  for (const ref of names) {
    if (seen.has(ref.name))
      throw invalid(`variable '${ref.name}' appears twice in one term`, ref.column, text);
    seen.add(ref.name);
    const info = lookupVariable(meta, ref.name, ref.column);
    if (info.type === 'string') {
      throw wrongType(
        `variable '${ref.name}' is a string; strings cannot be summarized (import it as a factor)`,
        ref.name,
        ref.column,
      );
    }
    if (info.type === 'factor') factors.push(ref);
    else numeric.push(ref);
  }
  const label = names.map((n) => n.name).join(':');
  if (numeric.length === 0) return { kind: 'factor', label, factors: factors.map((f) => f.name) };
  if (numeric.length > 1) {
    const second = numeric[1] as NameRef;
    throw wrongType(
      `'${second.name}' is ${meta.variables.find((v) => v.name === second.name)?.type ?? 'numeric'}: only one ` +
        `numeric variable per term; grouping by a numeric variable arrives with F()`,
      second.name,
      second.column,
    );
  }
  const y = numeric[0] as NameRef;
  if (factors.length === 0) return { kind: 'numeric', label, variable: y.name };
  return { kind: 'byGroup', label, variable: y.name, groups: factors.map((f) => f.name) };
}

/**
 * Parses a summary-style formula against a dataset's variables. See the file comment for the grammar,
 * semantics and errors.
 */
export function parseSummaryFormula(
  text: string,
  meta: DatasetMeta,
  options: ParseOptions = {},
): ParsedSummaryFormula {
  const raw = parseSyntax(text);
  if (raw.response !== null && options.allowResponse === false) {
    throw invalid(
      `this analysis takes no response: write '~ ${raw.response.name} + ...'`,
      raw.response.column,
      text,
    );
  }
  const exclude = new Set(options.exclude ?? []);
  let dotColumn: number | null = null;

  const expanded: NameRef[][] = [];
  for (const term of raw.terms) {
    if (term.dot) {
      if (raw.response !== null)
        throw invalid("'.' cannot be used with a response (y ~ .)", term.column, text);
      if (options.allowDot === false) throw invalid("'.' is supported only by summary", term.column, text);
      dotColumn ??= term.column;
      for (const v of meta.variables) {
        if (v.type !== 'string' && !exclude.has(v.name))
          expanded.push([{ name: v.name, column: term.column }]);
      }
    } else {
      expanded.push(term.names);
    }
  }
  if (raw.response !== null) {
    const first = expanded[0];
    if (first === undefined) throw invalid('expected a term after the response', raw.response.column, text);
    expanded[0] = [raw.response, ...first];
  }

  const terms: SummaryTerm[] = [];
  const seenTerms = new Set<string>();
  const variables: string[] = [];
  const seenVariables = new Set<string>();
  for (const names of expanded) {
    const term = termFromNames(names, meta, text);
    if (seenTerms.has(term.label)) continue;
    seenTerms.add(term.label);
    terms.push(term);
    for (const n of names) {
      if (!seenVariables.has(n.name)) {
        seenVariables.add(n.name);
        variables.push(n.name);
      }
    }
  }
  if (terms.length === 0) throw invalid("'.' found no variables to summarize", 1, text);
  return { terms, variables, dotColumn, response: raw.response?.name ?? null };
}
