/**
 * What rxserve knows about a stored dataset: its `meta.json`. This is the contract between import,
 * storage, the engine and the API (rxGetInfo + rxGetVarInfo).
 *
 * On disk a dataset is a folder `<DATA_DIR>/datasets/<id>/` holding `meta.json` and one Arrow IPC file
 * per chunk, `chunks/<index padded to 6>.arrow`. Arrow types per variable type:
 *
 * | type      | Arrow type                         | low/high hold            |
 * |-----------|------------------------------------|--------------------------|
 * | numeric   | Float64                            | min / max                |
 * | integer   | Int32                              | min / max                |
 * | logical   | Bool                               | 0 / 1                    |
 * | factor    | Dictionary<Utf8, Int32>            | 0 / levels.length - 1    |
 * | string    | Utf8                               | null                     |
 * | date      | DateDay (days since 1970-01-01)    | min / max in days        |
 * | timestamp | TimestampMillisecond (UTC)         | min / max in ms          |
 *
 * Factors carry ONE dataset-wide level list: every chunk's dictionary is exactly `levels`, so a code
 * means the same level in every chunk and partial results line up without remapping.
 * Missing values are Arrow nulls (the validity bitmap), never NaN sentinels.
 */
export const VAR_TYPES = ['numeric', 'integer', 'logical', 'factor', 'string', 'date', 'timestamp'] as const;
export type VarType = (typeof VAR_TYPES)[number];

export interface VarInfo {
  name: string;
  type: VarType;
  /** Smallest non-missing value (see the table above); null when the column has no valid value. */
  low: number | null;
  /** Largest non-missing value; null when the column has no valid value. */
  high: number | null;
  /** Count of missing values over the whole dataset. */
  missing: number;
  /** Factor levels in code order; present only for factors. */
  levels?: string[];
}

export interface DatasetMeta {
  /** `ds_` followed by a random id. */
  id: string;
  name: string;
  /** The tenant that owns the dataset (`local` in single-user mode). */
  tenant: string;
  /** ISO 8601. */
  createdAt: string;
  numRows: number;
  numChunks: number;
  /**
   * The target rows per chunk. `chunkRows` is the truth: imports and dataStep fill every chunk but the
   * last exactly; sort and merge outputs hold chunks of up to 1.5x the target (partition sizes).
   */
  rowsPerChunk: number;
  /** Rows in each chunk, in chunk order. */
  chunkRows: number[];
  /** Bytes of all chunk files on disk. */
  bytes: number;
  /** Where the data came from: csv, arrow, parquet, ndjson, or the job that wrote it. */
  source: string;
  variables: VarInfo[];
}
