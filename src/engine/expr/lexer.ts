import { LIMITS, limitError, type Source, syntaxError } from './source.ts';

/**
 * Tokens of the transform / rowSelection language: R's expression syntax, minus everything that is not
 * a pure function of one row (assignment, indexing, member access, blocks, function definitions).
 * Columns are 1-based UTF-16 positions, as the user's editor counts them.
 */

export type Operator =
  | '+'
  | '-'
  | '*'
  | '/'
  | '^'
  | '%%'
  | '%/%'
  | '%in%'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | '!'
  | '&'
  | '&&'
  | '|'
  | '||';

export type Token =
  | { kind: 'number'; value: number; integer: boolean; text: string; column: number }
  | { kind: 'string'; value: string; column: number }
  | { kind: 'name'; text: string; quoted: boolean; column: number }
  | { kind: 'op'; op: Operator; column: number }
  | { kind: '(' | ')' | ',' | '=' | 'end'; column: number };

/** Characters that R would accept but this language refuses, with the reason shown to the user. */
const REFUSED: ReadonlyMap<string, string> = new Map([
  ['[', 'indexing is not supported'],
  [']', 'indexing is not supported'],
  ['{', 'blocks are not supported'],
  ['}', 'blocks are not supported'],
  ['$', 'member access is not supported'],
  ['@', 'member access is not supported'],
  [';', 'only one expression is allowed'],
  ['~', 'formulas are not expressions'],
  ['?', 'help is not an expression'],
  ['\\', 'function definitions are not supported'],
  [':', "sequences ('a:b') are not supported"],
]);

const TWO_CHAR_OPS: ReadonlyMap<string, Operator> = new Map([
  ['==', '=='],
  ['!=', '!='],
  ['<=', '<='],
  ['>=', '>='],
  ['&&', '&&'],
  ['||', '||'],
]);

const ONE_CHAR_OPS: ReadonlyMap<string, Operator> = new Map([
  ['+', '+'],
  ['-', '-'],
  ['*', '*'],
  ['/', '/'],
  ['^', '^'],
  ['<', '<'],
  ['>', '>'],
  ['!', '!'],
  ['&', '&'],
  ['|', '|'],
]);

const PERCENT_OPS: ReadonlyMap<string, Operator> = new Map([
  ['%%', '%%'],
  ['%/%', '%/%'],
  ['%in%', '%in%'],
]);

const DECIMAL = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/;
const DECIMAL_BAD_EXPONENT = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE](?![+-]?[0-9])/;
const HEX = /^0[xX][0-9a-fA-F]+/;
const DIGIT = /[0-9]/;
const NAME_START = /[\p{L}]/u;
const NAME_PART = /[\p{L}\p{N}._]/u;
const WHITESPACE = /\s/;

const SIMPLE_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
  ['b', '\b'],
  ['f', '\f'],
  ['v', '\v'],
  ['a', '\x07'],
  ['\\', '\\'],
  ['"', '"'],
  ["'", "'"],
  ['`', '`'],
  [' ', ' '],
]);

export function tokenize(source: Source): Token[] {
  const text = source.text;
  if (text.length > LIMITS.expressionLength) {
    throw limitError(
      source,
      `expression is ${text.length} characters long; the limit is ${LIMITS.expressionLength}`,
      LIMITS.expressionLength,
      { length: text.length },
    );
  }
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    const column = i + 1;
    if (WHITESPACE.test(ch)) {
      i++;
      continue;
    }
    if (ch === '#') throw syntaxError(source, 'comments are not supported', column);
    const two = text.slice(i, i + 3);
    if (two.startsWith('<<-') || two.startsWith('<-') || two.startsWith('->')) {
      throw syntaxError(
        source,
        `assignment ('${two.startsWith('<<-') ? '<<-' : two.slice(0, 2)}') is not allowed; a transform's name is the variable it sets (write 'x < -1' for a comparison with a negative number)`,
        column,
      );
    }
    if (two.startsWith('|>')) throw syntaxError(source, "the pipe '|>' is not supported", column);
    const twoOp = TWO_CHAR_OPS.get(text.slice(i, i + 2));
    if (twoOp !== undefined) {
      tokens.push({ kind: 'op', op: twoOp, column });
      i += 2;
      continue;
    }
    const oneOp = ONE_CHAR_OPS.get(ch);
    if (oneOp !== undefined) {
      tokens.push({ kind: 'op', op: oneOp, column });
      i++;
      continue;
    }
    if (ch === '(' || ch === ')' || ch === ',' || ch === '=') {
      tokens.push({ kind: ch, column });
      i++;
      continue;
    }
    if (ch === '%') {
      const close = text.indexOf('%', i + 1);
      if (close < 0) throw syntaxError(source, "unterminated operator starting with '%'", column);
      const opText = text.slice(i, close + 1);
      const op = PERCENT_OPS.get(opText);
      if (op === undefined) {
        throw syntaxError(source, `unknown operator '${clip(opText)}' (supported: %%, %/%, %in%)`, column);
      }
      tokens.push({ kind: 'op', op, column });
      i = close + 1;
      continue;
    }
    if (DIGIT.test(ch) || (ch === '.' && DIGIT.test(text[i + 1] ?? ''))) {
      i = readNumber(source, i, tokens);
      continue;
    }
    if (NAME_START.test(ch) || ch === '.') {
      let j = i + 1;
      while (j < text.length && NAME_PART.test(text[j] as string)) j++;
      tokens.push({ kind: 'name', text: text.slice(i, j), quoted: false, column });
      i = j;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const { value, end } = readQuoted(source, i, ch);
      tokens.push({ kind: 'string', value, column });
      i = end;
      continue;
    }
    if (ch === '`') {
      const { value, end } = readQuoted(source, i, ch);
      if (value.length === 0) throw syntaxError(source, 'empty backquoted name', column);
      tokens.push({ kind: 'name', text: value, quoted: true, column });
      i = end;
      continue;
    }
    if (ch === '_') {
      throw syntaxError(source, "a name cannot start with '_'; write it in backquotes", column);
    }
    const why = REFUSED.get(ch);
    throw syntaxError(source, `unexpected character '${ch}'${why === undefined ? '' : ` (${why})`}`, column);
  }
  tokens.push({ kind: 'end', column: text.length + 1 });
  return tokens;
}

/** Reads a number at `start`, pushes its token and returns the index after it. */
function readNumber(source: Source, start: number, tokens: Token[]): number {
  const text = source.text;
  const column = start + 1;
  // A bounded window: the longest sensible literal is far shorter, and it keeps regexes linear.
  const window = text.slice(start, start + 400);
  let numText: string;
  let value: number;
  const hex = HEX.exec(window);
  if (hex !== null) {
    numText = hex[0];
    value = Number.parseInt(numText.slice(2), 16);
  } else {
    if (DECIMAL_BAD_EXPONENT.test(window))
      throw syntaxError(source, 'a number has an empty exponent', column);
    const decimal = DECIMAL.exec(window);
    numText = decimal?.[0] ?? (text[start] as string);
    value = Number(numText);
  }
  let end = start + numText.length;
  let integer = false;
  if (text[end] === 'L') {
    // R's integer literal: 10L. A non-whole value with L is a plain number in R (with a warning).
    integer = Number.isInteger(value) && Math.abs(value) <= 2147483647;
    end++;
  } else if (text[end] === 'i') {
    throw syntaxError(source, 'complex numbers are not supported', end + 1);
  }
  const next = text[end];
  if (next !== undefined && (NAME_PART.test(next) || next === '`')) {
    throw syntaxError(source, `unexpected '${next}' after the number '${clip(numText)}'`, end + 1);
  }
  tokens.push({ kind: 'number', value, integer, text: numText, column });
  return end;
}

/** A string ('...' or "...") or backquoted name, with R's escapes; returns the value and the index after it. */
function readQuoted(source: Source, start: number, quote: string): { value: string; end: number } {
  const text = source.text;
  const parts: string[] = [];
  let i = start + 1;
  let runStart = i;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === quote) {
      parts.push(text.slice(runStart, i));
      return { value: parts.join(''), end: i + 1 };
    }
    if (ch !== '\\') {
      i++;
      continue;
    }
    parts.push(text.slice(runStart, i));
    const escapeColumn = i + 1;
    const e = text[i + 1];
    if (e === undefined) break;
    const simple = SIMPLE_ESCAPES.get(e);
    if (simple !== undefined) {
      parts.push(simple);
      i += 2;
    } else if (e === 'x') {
      const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2, i + 4));
      if (hex === null) throw syntaxError(source, "'\\x' needs hexadecimal digits", escapeColumn);
      parts.push(String.fromCharCode(Number.parseInt(hex[0], 16)));
      i += 2 + hex[0].length;
    } else if (e === 'u' || e === 'U') {
      const braced = /^\{([0-9a-fA-F]{1,8})\}/.exec(text.slice(i + 2, i + 12));
      const bare =
        braced === null ? /^[0-9a-fA-F]{1,8}/.exec(text.slice(i + 2, i + (e === 'u' ? 6 : 10))) : null;
      const digits = braced?.[1] ?? bare?.[0];
      const code = digits === undefined ? Number.NaN : Number.parseInt(digits, 16);
      if (digits === undefined || code > 0x10ffff || code === 0) {
        throw syntaxError(source, `'\\${e}' needs a valid Unicode code point`, escapeColumn);
      }
      parts.push(String.fromCodePoint(code));
      i += 2 + (braced?.[0].length ?? digits.length);
    } else {
      throw syntaxError(source, `'\\${e}' is an unrecognized escape`, escapeColumn);
    }
    runStart = i;
  }
  const what = quote === '`' ? 'backquoted name' : 'string';
  throw syntaxError(source, `unterminated ${what} starting`, start + 1);
}

/** Keeps echoed user text short in messages. */
export function clip(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}
