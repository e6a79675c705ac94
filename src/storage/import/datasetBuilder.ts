import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Data, tableFromIPC, type Utf8, type Vector } from 'apache-arrow';
import { chunkPath, readWholeFile } from '../chunkFiles.ts';
import type { VarInfo, VarType } from '../datasetMeta.ts';
import { type ColInfo, type ColInfoEntry, ImportError, type ImportOutcome } from '../importTypes.ts';
import {
  allNullValidity,
  boolData,
  chunkPieces,
  dateDayData,
  daysToMillis,
  dictionaryData,
  float64Data,
  int32Data,
  levelsVector,
  packValidity,
  stringsFromCodes,
  timestampData,
  utf8Data,
  Written,
} from './arrowChunk.ts';
import { ColumnBuilder, FACTOR_MAX_LEVELS, Kind, type PassState, TextMode } from './columnBuilder.ts';

export interface DatasetBuilderOptions {
  stagingDir: string;
  rowsPerChunk: number;
  colInfo: ColInfo | undefined;
  /** Input column names to read as text from the first row: the lossy columns of an earlier pass. */
  textColumns?: ReadonlySet<string>;
}

interface ChunkLayout {
  /** How each column was written (columns added later are absent). */
  written: Written[];
  /** Dictionary length of columns written as Levels. */
  levelCounts: number[];
}

interface FinalColumn {
  type: VarType;
  levels?: string[];
  /** Provisional (first-seen) code to final code, for inferred factors. */
  remap?: Int32Array;
  identity?: boolean;
  dictionary?: Vector<Utf8>;
}

const KIND_TYPE: Record<Exclude<Kind, typeof Kind.Text>, VarType> = {
  [Kind.Empty]: 'logical',
  [Kind.Logical]: 'logical',
  [Kind.Integer]: 'integer',
  [Kind.Numeric]: 'numeric',
  [Kind.Date]: 'date',
  [Kind.Timestamp]: 'timestamp',
};

const WRITTEN_TYPE: Partial<Record<Written, VarType>> = {
  [Written.Logical]: 'logical',
  [Written.Integer]: 'integer',
  [Written.Numeric]: 'numeric',
  [Written.Date]: 'date',
  [Written.Timestamp]: 'timestamp',
  [Written.Strings]: 'string',
};

/**
 * Collects rows into columns, writes each full chunk as soon as it is complete (types as inferred so
 * far), and at the end converts the chunks whose columns ended up with another type or level order.
 * At most one chunk is held in memory plus one being written.
 */
export class DatasetBuilder {
  readonly columns: ColumnBuilder[] = [];
  readonly pass: PassState = { storing: true };
  rowInChunk = 0;
  numRows = 0;
  private readonly chunkRows: number[] = [];
  private readonly layouts: ChunkLayout[] = [];
  private readonly names = new Set<string>();
  private pendingWrite: Promise<void> = Promise.resolve();
  /** Value arrays of the chunk being written, by column, to recycle once it is on disk. */
  private inFlightValues: (Float64Array | undefined)[] = [];
  private cachedLevels: { column: number; count: number; vector: Vector<Utf8> }[] = [];

  private constructor(private readonly options: DatasetBuilderOptions) {}

  static async create(options: DatasetBuilderOptions): Promise<DatasetBuilder> {
    await mkdir(path.join(options.stagingDir, 'chunks'), { recursive: true });
    return new DatasetBuilder(options);
  }

  get rowsPerChunk(): number {
    return this.options.rowsPerChunk;
  }

  /** Columns whose inferred type changed to text after typed values: the input must be read again. */
  lossyColumns(): string[] {
    return this.columns.filter((column) => column.lossy).map((column) => column.sourceName);
  }

  /** `defaults` apply when colInfo gives the column no type or levels (Arrow dictionaries are factors). */
  addColumn(sourceName: string, defaults?: ColInfoEntry): ColumnBuilder {
    const given = this.options.colInfo?.[sourceName];
    const entry = given?.type || given?.levels || !defaults ? given : { ...defaults, ...given };
    const name = entry?.newName ?? sourceName;
    if (this.names.has(name)) {
      throw new ImportError(
        'DUPLICATE_COLUMN',
        `column name '${name}' occurs more than once${entry?.newName ? ' (after colInfo newName)' : ''}; column names must be unique`,
        400,
        { column: name },
      );
    }
    this.names.add(name);
    const column = new ColumnBuilder(
      sourceName,
      name,
      this.columns.length,
      this.options.rowsPerChunk,
      this.pass,
      entry,
      this.options.textColumns?.has(sourceName) ?? false,
    );
    // A column that first appears now (an NDJSON key) was missing in every earlier row.
    for (let r = 0; r < this.rowInChunk; r++) column.setMissing(r);
    column.missing += this.numRows - this.rowInChunk;
    this.columns.push(column);
    return column;
  }

  /** Ends `count` rows set column by column; true when the chunk is full. */
  endRows(count: number): boolean {
    this.numRows += count;
    this.rowInChunk += count;
    return this.rowInChunk === this.options.rowsPerChunk;
  }

  /** Ends the current row; true when the chunk is full and `flushChunk` must be awaited. */
  endRow(): boolean {
    this.numRows++;
    return ++this.rowInChunk === this.options.rowsPerChunk;
  }

  async flushChunk(): Promise<void> {
    const rows = this.rowInChunk;
    if (rows === 0) return;
    this.rowInChunk = 0;
    if (!this.pass.storing) {
      for (const column of this.columns) column.resetChunk();
      return;
    }
    // The previous chunk's buffers are free only once its write is done.
    await this.pendingWrite;
    this.inFlightValues.forEach((values, j) => {
      if (values) this.columns[j]!.recycleValues(values);
    });
    this.inFlightValues = [];
    const index = this.chunkRows.length;
    this.chunkRows.push(rows);
    for (const column of this.columns) column.addChunkStatistics(rows);
    const layout: ChunkLayout = { written: [], levelCounts: [] };
    const data = this.columns.map((column) => this.columnData(column, rows, layout));
    this.layouts.push(layout);
    const pieces = await chunkPieces(
      this.columns.map((column) => column.name),
      data,
      rows,
    );
    for (const column of this.columns) column.resetChunk();
    // One write in flight while the next chunk is parsed; the catch only keeps a failure from being
    // reported as unhandled before it is awaited.
    this.pendingWrite = writeFile(chunkPath(this.options.stagingDir, index), pieces);
    this.pendingWrite.catch(() => {});
  }

  private columnData(column: ColumnBuilder, rows: number, layout: ChunkLayout): Data {
    const { values } = column;
    let written: Written;
    let data: Data;
    let levelCount = 0;
    if (column.kind === Kind.Empty) {
      written = Written.Empty;
      data = boolData(new Uint8Array(0), allNullValidity(rows), rows);
    } else {
      const validity = packValidity(column.valid, rows);
      switch (column.kind) {
        case Kind.Logical:
          written = Written.Logical;
          data = boolData(values, validity, rows);
          break;
        case Kind.Integer:
          written = Written.Integer;
          data = int32Data(values, validity, rows);
          break;
        case Kind.Numeric:
          written = Written.Numeric;
          // Written as is while the next chunk fills a spare array.
          this.inFlightValues[column.index] = column.takeValues();
          data = float64Data(this.inFlightValues[column.index]!, validity, rows);
          break;
        case Kind.Date:
          written = Written.Date;
          data = dateDayData(values, validity, rows);
          break;
        case Kind.Timestamp:
          written = Written.Timestamp;
          data = timestampData(values, validity, rows);
          break;
        default:
          if (column.textMode === TextMode.Levels) {
            written = Written.Levels;
            levelCount = column.levels.length;
            data = dictionaryData(values, validity, rows, column.index, this.levelsVectorOf(column));
          } else {
            written = Written.Strings;
            data = utf8Data(
              column.strOffsets.slice(0, rows + 1),
              column.strBytes.slice(0, column.strLength),
              validity,
              rows,
            );
          }
      }
    }
    layout.written.push(written);
    layout.levelCounts.push(levelCount);
    return data;
  }

  private levelsVectorOf(column: ColumnBuilder): Vector<Utf8> {
    const cached = this.cachedLevels[column.index];
    if (cached && cached.count === column.levels.length) return cached.vector;
    const vector = levelsVector(column.levels);
    this.cachedLevels[column.index] = { column: column.index, count: column.levels.length, vector };
    return vector;
  }

  /** Writes the last chunk, brings every chunk to the final types and levels, and describes the result. */
  async finish(): Promise<ImportOutcome> {
    await this.flushChunk();
    await this.pendingWrite;
    const finals = this.columns.map((column) => finalColumn(column));
    let bytes = 0;
    for (let index = 0; index < this.chunkRows.length; index++) {
      const file = chunkPath(this.options.stagingDir, index);
      const layout = this.layouts[index]!;
      if (finals.some((final, j) => needsConversion(layout, j, final))) {
        await writeFile(file, await this.convertChunk(file, layout, finals, this.chunkRows[index]!));
      }
      bytes += (await stat(file)).size;
    }
    return {
      numRows: this.numRows,
      rowsPerChunk: this.options.rowsPerChunk,
      chunkRows: [...this.chunkRows],
      bytes,
      variables: this.columns.map((column, j) => varInfo(column, finals[j]!)),
    };
  }

  private async convertChunk(
    file: string,
    layout: ChunkLayout,
    finals: FinalColumn[],
    rows: number,
  ): Promise<Uint8Array[]> {
    const table = tableFromIPC(await readWholeFile(file));
    const data = this.columns.map((column, j) => {
      const final = finals[j]!;
      const written = layout.written[j] ?? Written.Absent;
      const stored = written === Written.Absent ? undefined : table.getChildAt(j)?.data[0];
      if (stored === undefined || !needsConversion(layout, j, final)) {
        return stored ?? convertColumn(undefined, Written.Absent, column, final, rows);
      }
      return convertColumn(stored, written, column, final, rows);
    });
    return chunkPieces(
      this.columns.map((column) => column.name),
      data,
      rows,
    );
  }
}

function finalColumn(column: ColumnBuilder): FinalColumn {
  if (column.kind !== Kind.Text) return { type: column.forcedType ?? KIND_TYPE[column.kind] };
  const levelCount = column.levels.length;
  const isFactor =
    column.forcedType === 'factor' ||
    (column.forcedType === undefined &&
      column.textMode === TextMode.Levels &&
      levelCount <= FACTOR_MAX_LEVELS &&
      levelCount * 2 <= column.validCount);
  if (!isFactor) return { type: 'string' };
  // Given levels keep their order; inferred ones are sorted by UTF-16 code unit (locale-independent).
  const levels = column.fixedLevels ? [...column.levels] : [...column.levels].sort();
  const finalCode = new Map(levels.map((level, code) => [level, code]));
  const remap = Int32Array.from(column.levels, (level) => finalCode.get(level)!);
  const identity = remap.every((code, provisional) => code === provisional);
  return { type: 'factor', levels, remap, identity, dictionary: levelsVector(levels) };
}

function needsConversion(layout: ChunkLayout, j: number, final: FinalColumn): boolean {
  const written = layout.written[j] ?? Written.Absent;
  switch (written) {
    case Written.Absent:
      return true;
    case Written.Empty:
      return final.type !== 'logical';
    case Written.Levels:
      return final.type !== 'factor' || !final.identity || layout.levelCounts[j] !== final.levels!.length;
    default:
      return WRITTEN_TYPE[written] !== final.type;
  }
}

function validityOf(data: Data): { nullBitmap: Uint8Array | undefined; nullCount: number } {
  return data.nullCount > 0
    ? { nullBitmap: data.nullBitmap, nullCount: data.nullCount }
    : { nullBitmap: undefined, nullCount: 0 };
}

function convertColumn(
  stored: Data | undefined,
  written: Written,
  column: ColumnBuilder,
  final: FinalColumn,
  rows: number,
): Data {
  if (stored === undefined || written === Written.Empty) {
    const none = allNullValidity(rows);
    switch (final.type) {
      case 'numeric':
        return float64Data(new Float64Array(rows), none, rows);
      case 'integer':
        return int32Data(new Int32Array(rows), none, rows);
      case 'logical':
        return boolData(new Uint8Array(0), none, rows);
      case 'date':
        return dateDayData(new Int32Array(rows), none, rows);
      case 'timestamp':
        return timestampData(new Float64Array(rows), none, rows);
      case 'factor':
        return dictionaryData(new Int32Array(rows), none, rows, column.index, final.dictionary!);
      case 'string':
        return utf8Data(new Int32Array(rows + 1), new Uint8Array(0), none, rows);
    }
  }
  const validity = validityOf(stored);
  const values = stored.values as ArrayLike<number>;
  if (written === Written.Integer && final.type === 'numeric') {
    return float64Data(Float64Array.from(values), validity, rows);
  }
  if (written === Written.Date && final.type === 'timestamp') {
    return timestampData(daysToMillis(values, rows), validity, rows);
  }
  if (written === Written.Levels && final.type === 'factor') {
    const remap = final.remap!;
    const codes = new Int32Array(rows);
    for (let r = 0; r < rows; r++) codes[r] = remap[values[r]!] ?? 0;
    return dictionaryData(codes, validity, rows, column.index, final.dictionary!);
  }
  if (written === Written.Levels && final.type === 'string') {
    const isValid = (r: number) =>
      validity.nullCount === 0 || (validity.nullBitmap![r >> 3]! & (1 << (r & 7))) !== 0;
    const { offsets, bytes } = stringsFromCodes(values, isValid, column.levels, rows);
    return utf8Data(offsets, bytes, validity, rows);
  }
  throw new Error(`cannot convert a chunk column written as ${written} to ${final.type}`);
}

function varInfo(column: ColumnBuilder, final: FinalColumn): VarInfo {
  const hasValues = column.validCount > 0;
  let low: number | null = null;
  let high: number | null = null;
  switch (final.type) {
    case 'numeric':
    case 'integer':
    case 'date':
    case 'timestamp':
      if (Number.isFinite(column.low)) {
        low = column.low;
        high = column.high;
      }
      break;
    case 'logical':
      if (hasValues) {
        low = 0;
        high = 1;
      }
      break;
    case 'factor':
      if (final.levels!.length > 0) {
        low = 0;
        high = final.levels!.length - 1;
      }
      break;
    case 'string':
      break;
  }
  const info: VarInfo = { name: column.name, type: final.type, low, high, missing: column.missing };
  if (final.type === 'factor') info.levels = final.levels!;
  return info;
}
