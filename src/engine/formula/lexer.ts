import { EngineError } from '../errors.ts';

/**
 * Tokens of RevoScaleR's formula language (R's formula syntax). Columns are 1-based so that every error
 * message can point at the character the user typed.
 */

export type TokenKind =
  | 'name'
  | 'number'
  | 'tilde'
  | 'plus'
  | 'minus'
  | 'star'
  | 'slash'
  | 'caret'
  | 'colon'
  | 'lparen'
  | 'rparen'
  | 'comma'
  | 'equals'
  | 'end';

export interface Token {
  kind: TokenKind;
  /** The name (without backquotes), the number's source text, or the operator. */
  text: string;
  /** 1-based column of the token's first character. */
  column: number;
  /** True for a `backquoted` name: it is never a keyword (TRUE, F, ...) nor the `.` of `~ .`. */
  quoted: boolean;
}

/** Formulas longer than this are refused before any work is done (request-size abuse). */
export const MAX_FORMULA_LENGTH = 10_000;

export function formulaError(message: string, column: number, formula: string): EngineError {
  return new EngineError('INVALID_FORMULA', `${message} at column ${column}`, 400, { formula, column });
}

const OPERATORS: Record<string, TokenKind> = {
  '~': 'tilde',
  '+': 'plus',
  '-': 'minus',
  '*': 'star',
  '/': 'slash',
  '^': 'caret',
  ':': 'colon',
  '(': 'lparen',
  ')': 'rparen',
  ',': 'comma',
  '=': 'equals',
};

const LETTER = /[A-Za-z]/;
const DIGIT = /[0-9]/;
const NAME_PART = /[A-Za-z0-9._]/;
const NUMBER = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/;
const WHITESPACE = /\s/;

export function tokenize(text: string): Token[] {
  if (text.length > MAX_FORMULA_LENGTH) {
    throw new EngineError(
      'INVALID_FORMULA',
      `formula is ${text.length} characters long; the limit is ${MAX_FORMULA_LENGTH}`,
      400,
      { length: text.length, limit: MAX_FORMULA_LENGTH },
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
    const op = OPERATORS[ch];
    if (op !== undefined) {
      tokens.push({ kind: op, text: ch, column, quoted: false });
      i++;
      continue;
    }
    // A number starts with a digit, or with '.' followed by a digit (R: `.5`); `.x` and `.` are names.
    if (DIGIT.test(ch) || (ch === '.' && DIGIT.test(text[i + 1] ?? ''))) {
      const match = NUMBER.exec(text.slice(i, i + 64));
      const numText = match?.[0] ?? ch;
      tokens.push({ kind: 'number', text: numText, column, quoted: false });
      i += numText.length;
      if (i < text.length && /[A-Za-z_]/.test(text[i] as string)) {
        throw formulaError(`unexpected character '${text[i]}' after number '${numText}'`, i + 1, text);
      }
      continue;
    }
    if (LETTER.test(ch) || ch === '.') {
      let j = i + 1;
      while (j < text.length && NAME_PART.test(text[j] as string)) j++;
      tokens.push({ kind: 'name', text: text.slice(i, j), column, quoted: false });
      i = j;
      continue;
    }
    if (ch === '`') {
      // R's backquoted names: anything but a backquote; a backslash escapes the next character.
      let j = i + 1;
      let name = '';
      while (j < text.length && text[j] !== '`') {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        name += text[j];
        j++;
      }
      if (j >= text.length) throw formulaError('unterminated backquoted name starting', column, text);
      if (name.length === 0) throw formulaError('empty backquoted name', column, text);
      tokens.push({ kind: 'name', text: name, column, quoted: true });
      i = j + 1;
      continue;
    }
    throw formulaError(`unexpected character '${ch}'`, column, text);
  }
  tokens.push({ kind: 'end', text: '', column: text.length + 1, quoted: false });
  return tokens;
}
