import { type Data, RecordBatchFileWriter } from 'apache-arrow';
import { tableFromData } from '../../arrowData.ts';

export {
  allNullValidity,
  arrowTypeFor,
  boolData,
  dateDayData,
  dictionaryData,
  float64Data,
  int32Data,
  levelsVector,
  packValidity,
  stringsFromCodes,
  timestampData,
  utf8Data,
  type Validity,
} from '../../arrowData.ts';

/** How a column was written to a chunk during the pass; the finishing step converts it to the final type. */
export const Written = {
  /** No value yet: an all-null Bool column. */
  Empty: 0,
  Logical: 1,
  Integer: 2,
  Numeric: 3,
  Date: 4,
  Timestamp: 5,
  /** Factor codes in first-seen order, dictionary = the levels seen so far. */
  Levels: 6,
  Strings: 7,
  /** The column did not exist yet (NDJSON keys that appear late). */
  Absent: 8,
} as const;
export type Written = (typeof Written)[keyof typeof Written];

const MS_PER_DAY = 86_400_000;

/**
 * Arrow IPC file bytes (one record batch, uncompressed) of `columns`, as the writer's pieces: joining
 * them (what tableToIPC does) costs more than the whole write, and writeFile takes them as they are.
 * The pieces are views of the columns' buffers, which must stay untouched until written.
 */
export async function chunkPieces(
  names: readonly string[],
  columns: readonly Data[],
  rows: number,
): Promise<Uint8Array[]> {
  const writer = RecordBatchFileWriter.writeAll(tableFromData(names, columns, rows));
  const pieces: Uint8Array[] = [];
  for await (const piece of writer) pieces.push(piece);
  return pieces;
}

export function daysToMillis(days: ArrayLike<number>, rows: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = days[r]! * MS_PER_DAY;
  return out;
}
