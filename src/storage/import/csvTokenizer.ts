import { ImportError } from '../importTypes.ts';

const LF = 10;
const CR = 13;
const QUOTE = 34;

/** Delimiters we detect, in order of preference when the evidence ties. */
const CANDIDATES = [44, 59, 9];
const SAMPLE_LINES = 20;

/**
 * Picks `,`, `;` or tab from the header and the lines after it: the delimiter whose count outside
 * quotes in the header is repeated by the most sample lines wins, then the most frequent in the header.
 * A header without any of them is a single column (`,`).
 */
export function detectDelimiter(sample: Uint8Array): number {
  const lines: Uint8Array[] = [];
  let start = 0;
  while (lines.length < SAMPLE_LINES && start < sample.length) {
    let end = sample.indexOf(LF, start);
    if (end === -1) end = sample.length;
    lines.push(sample.subarray(start, end));
    start = end + 1;
  }
  let best = CANDIDATES[0]!;
  let bestScore = [-1, 0];
  for (const delimiter of CANDIDATES) {
    const counts = lines.map((line) => countOutsideQuotes(line, delimiter));
    const inHeader = counts[0] ?? 0;
    if (inHeader === 0) continue;
    const agreeing = counts.filter((count) => count === inHeader).length;
    const score = [agreeing, inHeader];
    if (score[0]! > bestScore[0]! || (score[0] === bestScore[0] && score[1]! > bestScore[1]!)) {
      best = delimiter;
      bestScore = score;
    }
  }
  return best;
}

function countOutsideQuotes(line: Uint8Array, delimiter: number): number {
  let count = 0;
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === QUOTE) inQuotes = !inQuotes;
    else if (c === delimiter && !inQuotes) count++;
  }
  return count;
}

/**
 * RFC 4180 record splitter over bytes. `parseRecord` finds one record's fields in place (start, end,
 * quoting) without copying; a record ends at LF, CRLF or a lone CR. Quoted fields may hold delimiters,
 * doubled quotes and line breaks.
 */
export class CsvRecordReader {
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** 0 plain, 1 quoted, 2 quoted with doubled quotes inside (the value needs them undone). */
  readonly quoting: Uint8Array;
  /** Fields in the last record (may exceed capacity; only the first `capacity` are stored). */
  fieldCount = 0;
  /** Line breaks the last record spanned, its terminator included. */
  lines = 0;
  /** When parseRecord needed more input: whether it stopped inside a quoted field, and on which line of the record. */
  openQuote = false;
  openQuoteLine = 0;

  constructor(
    readonly delimiter: number,
    readonly capacity: number,
  ) {
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.quoting = new Uint8Array(capacity);
  }

  /**
   * Parses the record at `pos`. Returns the position after it, or -1 when the record is not complete
   * in buf[pos, end) and `atEnd` is false. A blank line is a record of zero fields.
   * `line` (of the record's first byte) only serves error messages.
   */
  parseRecord(buf: Buffer, pos: number, end: number, atEnd: boolean, line: number): number {
    const delimiter = this.delimiter;
    const capacity = this.capacity;
    const starts = this.starts;
    const ends = this.ends;
    const quoting = this.quoting;
    let newlines = 0;
    let field = 0;
    let i = pos;
    this.openQuote = false;
    if (i < end) {
      const first = buf[i];
      if (first === LF || first === CR) {
        const after = this.lineEnd(buf, i, end, atEnd);
        if (after === -1) return -1;
        this.fieldCount = 0;
        this.lines = 1;
        return after;
      }
    } else if (!atEnd) {
      return -1;
    }
    for (;;) {
      if (i < end && buf[i] === QUOTE) {
        const contentStart = i + 1;
        let j = contentStart;
        let quoted = 1;
        let closing: number;
        for (;;) {
          const q = buf.indexOf(QUOTE, j);
          if (q === -1 || q >= end) {
            if (!atEnd) return this.needMore(true, newlines);
            throw new ImportError(
              'UNTERMINATED_QUOTE',
              `line ${line + newlines}: a quoted field is never closed; check that every opening " has a closing " and that quotes inside fields are doubled ("")`,
              400,
              { line: line + newlines },
            );
          }
          if (q + 1 < end && buf[q + 1] === QUOTE) {
            quoted = 2;
            j = q + 2;
            continue;
          }
          if (q + 1 >= end && !atEnd) return this.needMore(true, newlines);
          closing = q;
          break;
        }
        const linesInside = countLines(buf, contentStart, closing);
        if (field < capacity) {
          starts[field] = contentStart;
          ends[field] = closing;
          quoting[field] = quoted;
        }
        field++;
        i = closing + 1;
        if (i >= end) {
          newlines += linesInside;
          this.fieldCount = field;
          this.lines = newlines + 1;
          return i;
        }
        const next = buf[i];
        if (next === delimiter) {
          newlines += linesInside;
          i++;
          continue;
        }
        if (next === LF || next === CR) {
          const after = this.lineEnd(buf, i, end, atEnd);
          if (after === -1) return -1;
          this.fieldCount = field;
          this.lines = newlines + linesInside + 1;
          return after;
        }
        throw new ImportError(
          'INVALID_CSV',
          `line ${line + newlines + linesInside}: unexpected text after a closing quote; a field that starts with " must end with " (write quotes inside it as "")`,
          400,
          { line: line + newlines + linesInside },
        );
      }
      let j = i;
      while (j < end) {
        const c = buf[j];
        if (c === delimiter || c === LF || c === CR) break;
        j++;
      }
      if (field < capacity) {
        starts[field] = i;
        ends[field] = j;
        quoting[field] = 0;
      }
      field++;
      if (j >= end) {
        if (!atEnd) return this.needMore(false, 0);
        this.fieldCount = field;
        this.lines = newlines + 1;
        return j;
      }
      if (buf[j] === delimiter) {
        i = j + 1;
        continue;
      }
      const after = this.lineEnd(buf, j, end, atEnd);
      if (after === -1) return -1;
      this.fieldCount = field;
      this.lines = newlines + 1;
      return after;
    }
  }

  private needMore(inQuote: boolean, quoteLine: number): number {
    this.openQuote = inQuote;
    this.openQuoteLine = quoteLine;
    return -1;
  }

  /** Position after the line break at `i` (LF, CRLF or CR); -1 when a CR ends the buffer mid-stream. */
  private lineEnd(buf: Buffer, i: number, end: number, atEnd: boolean): number {
    if (buf[i] === LF) return i + 1;
    if (i + 1 < end) return buf[i + 1] === LF ? i + 2 : i + 1;
    return atEnd ? i + 1 : -1;
  }
}

function countLines(buf: Buffer, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i++) if (buf[i] === LF) count++;
  return count;
}
