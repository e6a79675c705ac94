/**
 * Byte-level parsers for the text forms of numbers, logicals, dates and timestamps, shared by the CSV and
 * NDJSON importers. They read UTF-8 bytes in place, so the hot path never allocates a string.
 *
 * Accepted forms (surrounding ASCII spaces are ignored; every other character counts):
 * - integer: `[+-]digits` whose value fits int32. Anything with a decimal point or exponent is numeric,
 *   so `1.0` stays numeric.
 * - numeric: `[+-]digits[.digits][e[+-]digits]`, `.5`, `5.`, and `Inf`/`Infinity` with an optional sign.
 *   `NaN` parses as a number and is stored as missing (we have no separate NaN, missing is a null).
 *   Hex, binary, `1_000` and thousands separators are text. The double stored always equals `Number(text)`.
 * - logical: `TRUE FALSE T F true false True False` (R's spellings).
 * - date: `YYYY-MM-DD`, a real calendar day; stored as days since 1970-01-01.
 * - timestamp: `YYYY-MM-DD HH:MM[:SS[.fraction]]`, `T` allowed instead of the space, then optionally `Z`
 *   or an offset `+HH:MM` / `+HHMM`; without a zone the time is UTC. Stored as UTC milliseconds; digits
 *   of the fraction past milliseconds are dropped (truncated), like most ms-resolution readers do.
 */

export const ValueClass = {
  Text: 0,
  Integer: 1,
  Real: 2,
  Logical: 3,
  Date: 4,
  Timestamp: 5,
} as const;
export type ValueClass = (typeof ValueClass)[keyof typeof ValueClass];

/** Where the parsers leave the parsed value; one shared slot so the hot path allocates nothing. */
export const parsed = { value: 0 };

const SPACE = 32;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;

/** Powers of ten that are exact doubles: 10^22 is the largest. */
const EXACT_POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
const MS_PER_DAY = 86_400_000;

/** Whether bytes [start, end) spell a missing value: empty, only spaces, or `NA`. */
export function isMissingBytes(buf: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  if (length === 0) return true;
  if (length === 2 && buf[start] === 78 && buf[start + 1] === 65) return true;
  while (start < end && buf[start] === SPACE) start++;
  if (start === end) return true;
  while (end > start && buf[end - 1] === SPACE) end--;
  return end - start === 2 && buf[start] === 78 && buf[start + 1] === 65;
}

/**
 * Parses a number. Returns Integer (int32 syntax and range), Real, or Text when it is not a number.
 * Clinger's fast path: with at most 15 significant digits the mantissa is an exact double, and so is
 * 10^k for k <= 22, so one IEEE division gives the correctly rounded value, the same double as
 * `Number(text)`. Longer mantissas and exponents fall back to `Number()` after the syntax check.
 */
export function parseNumberBytes(buf: Uint8Array, start: number, end: number): ValueClass {
  while (start < end && buf[start] === SPACE) start++;
  while (end > start && buf[end - 1] === SPACE) end--;
  if (start === end) return ValueClass.Text;
  let i = start;
  let negative = false;
  const first = buf[i]!;
  if (first === MINUS) {
    negative = true;
    i++;
  } else if (first === PLUS) {
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let c = 0;
  while (i < end) {
    c = buf[i]! - ZERO;
    if (c < 0 || c > 9) break;
    mantissa = mantissa * 10 + c;
    digits++;
    i++;
  }
  if (i === end) {
    if (digits === 0) return ValueClass.Text;
    if (digits <= 10 && (negative ? mantissa <= 2147483648 : mantissa <= 2147483647)) {
      parsed.value = negative ? -mantissa : mantissa;
      // Int32 has no -0; R reads "-0" as integer 0 too.
      if (parsed.value === 0) parsed.value = 0;
      return ValueClass.Integer;
    }
    if (digits <= 15) {
      parsed.value = negative ? -mantissa : mantissa;
      return ValueClass.Real;
    }
    return numberFallback(buf, start, end);
  }
  let fractionDigits = 0;
  if (buf[i] === DOT) {
    i++;
    while (i < end) {
      c = buf[i]! - ZERO;
      if (c < 0 || c > 9) break;
      mantissa = mantissa * 10 + c;
      fractionDigits++;
      i++;
    }
    digits += fractionDigits;
    if (digits === 0) return ValueClass.Text;
    if (i === end) {
      if (digits <= 15) {
        const magnitude = fractionDigits === 0 ? mantissa : mantissa / EXACT_POW10[fractionDigits]!;
        parsed.value = negative ? -magnitude : magnitude;
        return ValueClass.Real;
      }
      return numberFallback(buf, start, end);
    }
  }
  if (digits === 0) return parseSpecialNumber(buf, start, end);
  const e = buf[i];
  if (e !== 101 && e !== 69) return ValueClass.Text;
  i++;
  if (i < end && (buf[i] === MINUS || buf[i] === PLUS)) i++;
  if (i === end) return ValueClass.Text;
  while (i < end) {
    c = buf[i]! - ZERO;
    if (c < 0 || c > 9) return ValueClass.Text;
    i++;
  }
  return numberFallback(buf, start, end);
}

function numberFallback(buf: Uint8Array, start: number, end: number): ValueClass {
  parsed.value = Number(latin1(buf, start, end));
  return ValueClass.Real;
}

const SPECIAL_NUMBERS = new Map<string, number>([
  ['Inf', Number.POSITIVE_INFINITY],
  ['+Inf', Number.POSITIVE_INFINITY],
  ['-Inf', Number.NEGATIVE_INFINITY],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['+Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['NaN', Number.NaN],
]);

function parseSpecialNumber(buf: Uint8Array, start: number, end: number): ValueClass {
  if (end - start > 9) return ValueClass.Text;
  const special = SPECIAL_NUMBERS.get(latin1(buf, start, end));
  if (special === undefined) return ValueClass.Text;
  parsed.value = special;
  return ValueClass.Real;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.prototype.latin1Slice.call(buf, start, end);
}

/** Logical spellings; parsed.value becomes 1 or 0. */
export function parseLogicalBytes(buf: Uint8Array, start: number, end: number): boolean {
  while (start < end && buf[start] === SPACE) start++;
  while (end > start && buf[end - 1] === SPACE) end--;
  const length = end - start;
  if (length === 1) {
    const c = buf[start];
    if (c === 84) return setLogical(1);
    if (c === 70) return setLogical(0);
    return false;
  }
  if (length !== 4 && length !== 5) return false;
  const word = latin1(buf, start, end);
  if (word === 'TRUE' || word === 'true' || word === 'True') return setLogical(1);
  if (word === 'FALSE' || word === 'false' || word === 'False') return setLogical(0);
  return false;
}

function setLogical(value: number): boolean {
  parsed.value = value;
  return true;
}

function digitsAt(buf: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let k = 0; k < count; k++) {
    // Reading past the field gives undefined, so NaN, which this check also rejects.
    const c = (buf[at + k] as number) - ZERO;
    if (!(c >= 0 && c <= 9)) return -1;
    value = value * 10 + c;
  }
  return value;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Reads `YYYY-MM-DD` at `at`; returns days since the epoch or NaN. */
function dateAt(buf: Uint8Array, at: number): number {
  if (buf[at + 4] !== MINUS || buf[at + 7] !== MINUS) return Number.NaN;
  const year = digitsAt(buf, at, 4);
  const month = digitsAt(buf, at + 5, 2);
  const day = digitsAt(buf, at + 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  return daysFromCivil(year, month, day);
}

/** `YYYY-MM-DD`; parsed.value becomes days since 1970-01-01. */
export function parseDateBytes(buf: Uint8Array, start: number, end: number): boolean {
  while (start < end && buf[start] === SPACE) start++;
  while (end > start && buf[end - 1] === SPACE) end--;
  if (end - start !== 10) return false;
  const days = dateAt(buf, start);
  if (Number.isNaN(days)) return false;
  parsed.value = days;
  return true;
}

/** A timestamp (see the file comment); parsed.value becomes UTC milliseconds. */
export function parseTimestampBytes(buf: Uint8Array, start: number, end: number): boolean {
  while (start < end && buf[start] === SPACE) start++;
  while (end > start && buf[end - 1] === SPACE) end--;
  if (end - start < 16) return false;
  const days = dateAt(buf, start);
  if (Number.isNaN(days)) return false;
  const separator = buf[start + 10];
  if (separator !== SPACE && separator !== 84) return false;
  let i = start + 11;
  const hour = digitsAt(buf, i, 2);
  if (buf[i + 2] !== 58) return false;
  const minute = digitsAt(buf, i + 3, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return false;
  i += 5;
  let second = 0;
  let millis = 0;
  if (i < end && buf[i] === 58) {
    if (i + 3 > end) return false;
    second = digitsAt(buf, i + 1, 2);
    if (second < 0 || second > 59) return false;
    i += 3;
    if (i < end && buf[i] === DOT) {
      i++;
      let fractionDigits = 0;
      while (i < end) {
        const c = buf[i]! - ZERO;
        if (c < 0 || c > 9) break;
        if (fractionDigits < 3) millis = millis * 10 + c;
        fractionDigits++;
        i++;
      }
      if (fractionDigits === 0) return false;
      for (let k = fractionDigits; k < 3; k++) millis *= 10;
    }
  }
  let offsetMinutes = 0;
  if (i < end) {
    const zone = buf[i];
    if (zone === 90) {
      i++;
    } else if (zone === PLUS || zone === MINUS) {
      if (end - i < 3) return false;
      const sign = zone === PLUS ? 1 : -1;
      const offsetHours = digitsAt(buf, i + 1, 2);
      let offsetMins = 0;
      if (end - i === 6 && buf[i + 3] === 58) offsetMins = digitsAt(buf, i + 4, 2);
      else if (end - i === 5) offsetMins = digitsAt(buf, i + 3, 2);
      else if (end - i !== 3) return false;
      if (offsetHours < 0 || offsetHours > 23 || offsetMins < 0 || offsetMins > 59) return false;
      offsetMinutes = sign * (offsetHours * 60 + offsetMins);
      i = end;
    }
    if (i !== end) return false;
  }
  parsed.value = days * MS_PER_DAY + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
  return true;
}

/**
 * Classifies a non-missing field, most specific class first: integer, numeric, logical, date, timestamp,
 * else text. The value (for non-text) is left in `parsed.value`.
 */
export function classifyBytes(buf: Uint8Array, start: number, end: number): ValueClass {
  const numberClass = parseNumberBytes(buf, start, end);
  if (numberClass !== ValueClass.Text) return numberClass;
  if (parseLogicalBytes(buf, start, end)) return ValueClass.Logical;
  if (parseDateBytes(buf, start, end)) return ValueClass.Date;
  if (parseTimestampBytes(buf, start, end)) return ValueClass.Timestamp;
  return ValueClass.Text;
}

/** Classifies a JSON string: only dates and timestamps are recognised (JSON already typed the rest). */
export function classifyJsonString(text: string): ValueClass {
  const length = text.length;
  if (length < 10 || length > 40) return ValueClass.Text;
  const bytes = Buffer.from(text, 'utf8');
  if (parseDateBytes(bytes, 0, bytes.length)) return ValueClass.Date;
  if (parseTimestampBytes(bytes, 0, bytes.length)) return ValueClass.Timestamp;
  return ValueClass.Text;
}
