import type { VarType } from '../datasetMeta.ts';
import { type ColInfoEntry, ImportError } from '../importTypes.ts';
import {
  classifyBytes,
  isMissingBytes,
  parseDateBytes,
  parsed,
  parseLogicalBytes,
  parseNumberBytes,
  parseTimestampBytes,
  ValueClass,
} from './valueParse.ts';

/**
 * What a column holds so far. Inference only ever moves up this lattice: Empty to anything,
 * Integer to Numeric, Date to Timestamp (all lossless, the stored values convert exactly), and
 * anything else that disagrees to Text. A typed column that turns to Text has lost the text of its
 * earlier values (`1.50` was stored as 1.5), so it is marked lossy and the importer reads the input
 * again with the column declared text from the start (see csv.ts).
 */
export const Kind = {
  Empty: 0,
  Logical: 1,
  Integer: 2,
  Numeric: 3,
  Date: 4,
  Timestamp: 5,
  Text: 6,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** A text column keeps level codes while it may still become a factor, bytes once it cannot. */
export const TextMode = { Levels: 0, Strings: 1 } as const;
export type TextMode = (typeof TextMode)[keyof typeof TextMode];

/**
 * Factor rule for inferred text columns: a factor when it has at most this many distinct values AND
 * at most one distinct value per two non-missing values (so ids and free text, where almost every
 * value differs, stay strings). colInfo `type` overrides the rule either way.
 */
export const FACTOR_MAX_LEVELS = 1000;
/** colInfo can force a factor past FACTOR_MAX_LEVELS, up to this bound on the in-memory level list. */
export const FORCED_FACTOR_MAX_LEVELS = 100_000;

const MS_PER_DAY = 86_400_000;
const QUOTE_PAIR = /""/g;

/** Shared by every column of one import pass; a lossy column stops all storing (the pass is redone). */
export interface PassState {
  storing: boolean;
}

/** A value that does not parse as the type colInfo forces; the importer adds the line number. */
export class ColumnValueError extends Error {
  constructor(
    readonly column: string,
    readonly value: string,
    readonly expected: VarType,
  ) {
    super(`value '${value}' in column '${column}' is not a valid ${expected}`);
  }
}

const CLASS_KIND: Record<ValueClass, Kind> = {
  [ValueClass.Text]: Kind.Text,
  [ValueClass.Integer]: Kind.Integer,
  [ValueClass.Real]: Kind.Numeric,
  [ValueClass.Logical]: Kind.Logical,
  [ValueClass.Date]: Kind.Date,
  [ValueClass.Timestamp]: Kind.Timestamp,
};

const FORCED_KIND: Record<VarType, Kind> = {
  numeric: Kind.Numeric,
  integer: Kind.Integer,
  logical: Kind.Logical,
  factor: Kind.Text,
  string: Kind.Text,
  date: Kind.Date,
  timestamp: Kind.Timestamp,
};

function join(current: Kind, incoming: Kind): Kind {
  if (current === incoming || current === Kind.Text) return current;
  if (current === Kind.Empty) return incoming;
  if (
    (current === Kind.Integer && incoming === Kind.Numeric) ||
    (current === Kind.Numeric && incoming === Kind.Integer)
  ) {
    return Kind.Numeric;
  }
  if (
    (current === Kind.Date && incoming === Kind.Timestamp) ||
    (current === Kind.Timestamp && incoming === Kind.Date)
  ) {
    return Kind.Timestamp;
  }
  return Kind.Text;
}

/**
 * One column of the dataset being imported: its inferred (or forced) kind, the current chunk's values,
 * and dataset-wide statistics. Values are set at a row index within the chunk, in row order.
 * Numbers, logicals, days and milliseconds all sit in one Float64Array (exact for all of them), so a
 * lossless type change needs no copy; the chunk writer narrows to the Arrow type when it flushes.
 */
export class ColumnBuilder {
  kind: Kind;
  textMode: TextMode = TextMode.Levels;
  /** Turned to text after holding typed values: the input must be read again. */
  lossy = false;
  readonly forcedType: VarType | undefined;
  readonly fixedLevels: boolean;

  values: Float64Array;
  valid: Uint8Array;
  readonly levelCodes = new Map<string, number>();
  readonly levels: string[] = [];
  strBytes: Uint8Array;
  strLength = 0;
  strOffsets: Int32Array;

  /**
   * Statistics of the chunks flushed so far (see addChunkStatistics): missing values (factor values
   * outside colInfo levels included), non-missing values, smallest and largest finite value in the
   * current kind's unit. Gathered per chunk rather than per value so the CSV fast path can store values
   * straight into the chunk and a record it gives up on leaves nothing to undo.
   */
  missing = 0;
  validCount = 0;
  low = Number.POSITIVE_INFINITY;
  high = Number.NEGATIVE_INFINITY;

  constructor(
    readonly sourceName: string,
    readonly name: string,
    /** Position among the dataset's columns; also the Arrow dictionary id of a factor. */
    readonly index: number,
    capacity: number,
    private readonly pass: PassState,
    entry: ColInfoEntry | undefined,
    readAsText: boolean,
  ) {
    this.values = new Float64Array(capacity);
    this.valid = new Uint8Array(capacity);
    this.strOffsets = new Int32Array(capacity + 1);
    this.strBytes = new Uint8Array(0);
    const forcedType = entry?.type ?? (entry?.levels ? 'factor' : undefined);
    this.forcedType = forcedType;
    this.fixedLevels = entry?.levels !== undefined;
    if (entry?.levels) {
      for (const level of entry.levels) {
        this.levelCodes.set(level, this.levels.length);
        this.levels.push(level);
      }
    }
    if (forcedType) {
      this.kind = FORCED_KIND[forcedType];
      if (forcedType === 'string') this.textMode = TextMode.Strings;
    } else {
      this.kind = readAsText ? Kind.Text : Kind.Empty;
    }
  }

  setMissing(row: number): void {
    this.values[row] = 0;
    this.valid[row] = 0;
    if (this.kind === Kind.Text && this.textMode === TextMode.Strings)
      this.strOffsets[row + 1] = this.strLength;
  }

  /** A field of delimited text: bytes [start, end); `quoted` 2 means it holds doubled quotes to undo. */
  pushBytes(buf: Buffer, start: number, end: number, quoted: number, row: number): void {
    if (isMissingBytes(buf, start, end)) {
      this.setMissing(row);
      return;
    }
    const kind = this.kind;
    if (kind === Kind.Text) {
      this.storeTextBytes(buf, start, end, quoted, row);
      return;
    }
    if (this.forcedType !== undefined) {
      this.pushForcedBytes(buf, start, end, quoted, row);
      return;
    }
    // Fast paths: a value of the column's current kind.
    if (kind === Kind.Numeric || kind === Kind.Integer) {
      const numberClass = parseNumberBytes(buf, start, end);
      if (numberClass === ValueClass.Integer || (numberClass === ValueClass.Real && kind === Kind.Numeric)) {
        this.storeNumber(parsed.value, row);
        return;
      }
    } else if (kind === Kind.Date || kind === Kind.Timestamp) {
      if (parseDateBytes(buf, start, end)) {
        this.storeNumber(kind === Kind.Date ? parsed.value : parsed.value * MS_PER_DAY, row);
        return;
      }
      if (kind === Kind.Timestamp && parseTimestampBytes(buf, start, end)) {
        this.storeNumber(parsed.value, row);
        return;
      }
    } else if (kind === Kind.Logical && parseLogicalBytes(buf, start, end)) {
      this.storeNumber(parsed.value, row);
      return;
    }
    const valueClass = quoted === 2 ? ValueClass.Text : classifyBytes(buf, start, end);
    const next = join(kind, CLASS_KIND[valueClass]);
    if (next !== kind) this.changeKind(next, row);
    if (next === Kind.Text) {
      this.storeTextBytes(buf, start, end, quoted, row);
    } else if (next === Kind.Timestamp && valueClass === ValueClass.Date) {
      this.storeNumber(parsed.value * MS_PER_DAY, row);
    } else {
      this.storeNumber(parsed.value, row);
    }
  }

  private pushForcedBytes(buf: Buffer, start: number, end: number, quoted: number, row: number): void {
    const type = this.forcedType!;
    let ok = false;
    if (type === 'numeric') {
      ok = parseNumberBytes(buf, start, end) !== ValueClass.Text;
    } else if (type === 'integer') {
      const numberClass = parseNumberBytes(buf, start, end);
      const value = parsed.value;
      ok =
        numberClass === ValueClass.Integer ||
        (numberClass === ValueClass.Real &&
          Number.isInteger(value) &&
          value >= -2147483648 &&
          value <= 2147483647);
    } else if (type === 'logical') {
      ok = parseLogicalBytes(buf, start, end);
    } else if (type === 'date') {
      ok = parseDateBytes(buf, start, end);
    } else if (type === 'timestamp') {
      if (parseDateBytes(buf, start, end)) {
        parsed.value *= MS_PER_DAY;
        ok = true;
      } else {
        ok = parseTimestampBytes(buf, start, end);
      }
    }
    if (!ok) throw new ColumnValueError(this.name, textOfBytes(buf, start, end, quoted), type);
    this.storeNumber(parsed.value, row);
  }

  /** A JSON number, or an Arrow/Parquet integer or float: `integral` says it counts as an integer. */
  pushNumber(value: number, integral: boolean, row: number): void {
    if (this.forcedType !== undefined) {
      this.pushForcedNumber(value, row);
      return;
    }
    const incoming = integral && value >= -2147483648 && value <= 2147483647 ? Kind.Integer : Kind.Numeric;
    if (this.kind !== incoming) {
      const next = join(this.kind, incoming);
      if (next !== this.kind) this.changeKind(next, row);
      if (next === Kind.Text) {
        this.storeText(String(value), row);
        return;
      }
    }
    this.storeNumber(value, row);
  }

  /**
   * A run of `count` numbers from an Arrow column (`source` from `from`, nulls from `bitmap` at bit
   * `bitmapOffset + index`), copied in bulk. Returns false, having stored nothing, when colInfo or the
   * column's kind calls for the value-by-value path.
   */
  setNumberRun(
    source: Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint16Array | Uint8Array,
    from: number,
    count: number,
    row: number,
    bitmap: Uint8Array | undefined,
    bitmapOffset: number,
  ): boolean {
    if (this.forcedType !== undefined) return false;
    const floating = source instanceof Float64Array || source instanceof Float32Array;
    const incoming = floating ? Kind.Numeric : Kind.Integer;
    const next = join(this.kind, incoming);
    if (next !== Kind.Numeric && next !== Kind.Integer) return false;
    if (next !== this.kind) this.changeKind(next, row);
    const { values, valid } = this;
    values.set(source.subarray(from, from + count), row);
    valid.fill(1, row, row + count);
    if (bitmap) {
      for (let k = 0; k < count; k++) {
        const bit = bitmapOffset + from + k;
        if ((bitmap[bit >> 3]! & (1 << (bit & 7))) === 0) {
          values[row + k] = 0;
          valid[row + k] = 0;
        }
      }
    }
    if (floating) {
      for (let k = 0; k < count; k++) {
        if (Number.isNaN(values[row + k]!)) {
          values[row + k] = 0;
          valid[row + k] = 0;
        }
      }
    }
    return true;
  }

  private pushForcedNumber(value: number, row: number): void {
    const type = this.forcedType!;
    if (this.kind === Kind.Text) {
      this.storeText(String(value), row);
      return;
    }
    const integerOk = Number.isInteger(value) && value >= -2147483648 && value <= 2147483647;
    if (type === 'numeric' || (type === 'integer' && integerOk)) {
      this.storeNumber(value, row);
      return;
    }
    throw new ColumnValueError(this.name, String(value), type);
  }

  /** A boolean from JSON, Arrow or Parquet. */
  pushLogical(value: boolean, row: number): void {
    this.pushTyped(Kind.Logical, value ? 1 : 0, undefined, row);
  }

  /** A date as days since 1970-01-01. */
  pushDays(days: number, row: number): void {
    this.pushTyped(Kind.Date, days, undefined, row);
  }

  /** A timestamp as UTC milliseconds. */
  pushMillis(ms: number, row: number): void {
    this.pushTyped(Kind.Timestamp, ms, undefined, row);
  }

  /**
   * A typed value; `text` is its original spelling when there is one (JSON strings), else the text form
   * is made only if the column turns out to be text (true/false, YYYY-MM-DD, ISO 8601).
   */
  private pushTyped(incoming: Kind, value: number, text: string | undefined, row: number): void {
    if (this.forcedType !== undefined) {
      const type = this.forcedType;
      if (this.kind === Kind.Text) {
        this.storeText(text ?? textOf(incoming, value), row);
      } else if (this.kind === incoming) {
        this.storeNumber(value, row);
      } else if (type === 'timestamp' && incoming === Kind.Date) {
        this.storeNumber(value * MS_PER_DAY, row);
      } else {
        throw new ColumnValueError(this.name, text ?? textOf(incoming, value), type);
      }
      return;
    }
    const next = join(this.kind, incoming);
    if (next !== this.kind) this.changeKind(next, row);
    if (next === Kind.Text) this.storeText(text ?? textOf(incoming, value), row);
    else if (next === Kind.Timestamp && incoming === Kind.Date) this.storeNumber(value * MS_PER_DAY, row);
    else this.storeNumber(value, row);
  }

  /** A string from JSON: a date or timestamp when it reads as one, else text. */
  pushJsonString(text: string, classOf: (text: string) => ValueClass, row: number): void {
    if (text.length === 0 || text === 'NA') {
      this.setMissing(row);
      return;
    }
    if (this.kind === Kind.Text) {
      this.storeText(text, row);
      return;
    }
    const valueClass = classOf(text);
    if (this.forcedType !== undefined) {
      const bytes = Buffer.from(text, 'utf8');
      this.pushForcedBytes(bytes, 0, bytes.length, 0, row);
      return;
    }
    if (valueClass === ValueClass.Date) this.pushTyped(Kind.Date, parsed.value, text, row);
    else if (valueClass === ValueClass.Timestamp) this.pushTyped(Kind.Timestamp, parsed.value, text, row);
    else this.pushTyped(Kind.Text, 0, text, row);
  }

  /** A value that is text whatever it looks like (Arrow/Parquet strings). */
  pushString(text: string, row: number): void {
    if (this.kind === Kind.Text) {
      this.storeText(text, row);
      return;
    }
    if (this.forcedType !== undefined) {
      const bytes = Buffer.from(text, 'utf8');
      this.pushForcedBytes(bytes, 0, bytes.length, 0, row);
      return;
    }
    this.pushTyped(Kind.Text, 0, text, row);
  }

  private changeKind(next: Kind, row: number): void {
    const current = this.kind;
    this.kind = next;
    if (next === Kind.Text) {
      this.textMode = TextMode.Levels;
      if (current !== Kind.Empty) {
        this.lossy = true;
        this.pass.storing = false;
      }
      return;
    }
    if (current === Kind.Date && next === Kind.Timestamp) {
      const { values, valid } = this;
      for (let r = 0; r < row; r++) if (valid[r] === 1) values[r] = values[r]! * MS_PER_DAY;
      // Statistics of earlier chunks were in days.
      if (Number.isFinite(this.low)) {
        this.low *= MS_PER_DAY;
        this.high *= MS_PER_DAY;
      }
    }
  }

  private storeNumber(value: number, row: number): void {
    // NaN has no place of its own: missing values are nulls.
    if (Number.isNaN(value)) {
      this.setMissing(row);
      return;
    }
    this.values[row] = value;
    this.valid[row] = 1;
  }

  private storeTextBytes(buf: Buffer, start: number, end: number, quoted: number, row: number): void {
    if (!this.pass.storing) return;
    if (this.textMode === TextMode.Strings) {
      if (quoted === 2) this.appendUnquoted(buf, start, end);
      else this.appendBytes(buf, start, end);
      this.valid[row] = 1;
      this.strOffsets[row + 1] = this.strLength;
      return;
    }
    this.storeText(textOfBytes(buf, start, end, quoted), row);
  }

  private storeText(text: string, row: number): void {
    if (!this.pass.storing) return;
    if (this.textMode === TextMode.Strings) {
      const bytes = Buffer.from(text, 'utf8');
      this.appendBytes(bytes, 0, bytes.length);
      this.valid[row] = 1;
      this.strOffsets[row + 1] = this.strLength;
      return;
    }
    let code = this.levelCodes.get(text);
    if (code === undefined) {
      if (this.fixedLevels) {
        // rxImport's colInfo rule: a value outside the given levels is missing.
        this.setMissing(row);
        return;
      }
      if (this.levels.length >= this.levelLimit()) {
        if (this.forcedType === 'factor') {
          throw new ImportError(
            'TOO_MANY_LEVELS',
            `column '${this.name}' has more than ${FORCED_FACTOR_MAX_LEVELS} distinct values; import it as a string column or give colInfo levels`,
            422,
            { column: this.name, limit: FORCED_FACTOR_MAX_LEVELS },
          );
        }
        this.switchToStrings(row);
        this.storeText(text, row);
        return;
      }
      code = this.levels.length;
      this.levels.push(text);
      this.levelCodes.set(text, code);
    }
    this.values[row] = code;
    this.valid[row] = 1;
  }

  private levelLimit(): number {
    return this.forcedType === 'factor' ? FORCED_FACTOR_MAX_LEVELS : FACTOR_MAX_LEVELS;
  }

  /** Too many distinct values for a factor: the chunk's rows so far become bytes. */
  private switchToStrings(row: number): void {
    this.textMode = TextMode.Strings;
    this.strLength = 0;
    this.strOffsets[0] = 0;
    for (let r = 0; r < row; r++) {
      if (this.valid[r] === 1) {
        const bytes = Buffer.from(this.levels[this.values[r]!]!, 'utf8');
        this.appendBytes(bytes, 0, bytes.length);
      }
      this.strOffsets[r + 1] = this.strLength;
    }
  }

  private reserve(extra: number): void {
    const needed = this.strLength + extra;
    if (needed <= this.strBytes.length) return;
    const grown = new Uint8Array(Math.max(needed, this.strBytes.length * 2, 1024));
    grown.set(this.strBytes.subarray(0, this.strLength));
    this.strBytes = grown;
  }

  private appendBytes(buf: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.reserve(length);
    if (length > 32) {
      this.strBytes.set(buf.subarray(start, end), this.strLength);
    } else {
      // Short values: a loop beats creating a subarray view per value.
      const out = this.strBytes;
      let at = this.strLength;
      for (let i = start; i < end; i++) out[at++] = buf[i]!;
    }
    this.strLength += length;
  }

  private appendUnquoted(buf: Uint8Array, start: number, end: number): void {
    this.reserve(end - start);
    const out = this.strBytes;
    let length = this.strLength;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      out[length++] = c;
      if (c === 34) i++;
    }
    this.strLength = length;
  }

  private spareValues: Float64Array | undefined;

  /** Hands this chunk's values to the chunk writer; the column goes on in a spare array. */
  takeValues(): Float64Array {
    const taken = this.values;
    this.values = this.spareValues ?? new Float64Array(taken.length);
    this.spareValues = undefined;
    return taken;
  }

  /** Gives back an array from takeValues once its chunk is on disk. */
  recycleValues(values: Float64Array): void {
    if (values.length === this.values.length) this.spareValues = values;
  }

  /** Adds the statistics of the chunk's first `rows` rows; called once per chunk before it is written. */
  addChunkStatistics(rows: number): void {
    const { values, valid } = this;
    let validRows = 0;
    const kind = this.kind;
    if (kind === Kind.Integer || kind === Kind.Numeric || kind === Kind.Date || kind === Kind.Timestamp) {
      let low = this.low;
      let high = this.high;
      for (let r = 0; r < rows; r++) {
        if (valid[r] === 1) {
          validRows++;
          const value = values[r]!;
          if (value < low && value - value === 0) low = value;
          if (value > high && value - value === 0) high = value;
        }
      }
      this.low = low;
      this.high = high;
    } else {
      for (let r = 0; r < rows; r++) validRows += valid[r]!;
    }
    this.validCount += validRows;
    this.missing += rows - validRows;
  }

  /** Called by the chunk writer once the chunk is written: the next chunk starts empty. */
  resetChunk(): void {
    this.strLength = 0;
    this.strOffsets[0] = 0;
  }
}

function textOfBytes(buf: Buffer, start: number, end: number, quoted: number): string {
  const text = buf.toString('utf8', start, end);
  return quoted === 2 ? text.replace(QUOTE_PAIR, '"') : text;
}

function textOf(kind: Kind, value: number): string {
  if (kind === Kind.Logical) return value === 1 ? 'true' : 'false';
  if (kind === Kind.Date) return formatDays(value);
  if (kind === Kind.Timestamp) return new Date(value).toISOString();
  return String(value);
}

function formatDays(days: number): string {
  return new Date(days * MS_PER_DAY).toISOString().slice(0, 10);
}
