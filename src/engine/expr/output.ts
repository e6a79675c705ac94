import type { Data, Utf8, Vector } from 'apache-arrow';
import {
  boolData,
  dateDayData,
  dictionaryData,
  float64Data,
  int32Data,
  timestampData,
  utf8Data,
  type Validity,
} from '../../arrowData.ts';
import type { VarType } from '../../storage/datasetMeta.ts';
import type { StrVec, Vec } from './nodes.ts';

/**
 * Builders of the Arrow columns `apply` returns, filled block by block with the rows that rowSelection
 * keeps. Validity goes straight into an Arrow bitmap as rows are appended (no byte mask, no second
 * pass); the Data itself is made by the shared builders of src/arrowData.ts, in the storage types.
 */
export interface OutputColumn {
  /** Appends rows [0, n) of a block's values (already reduced to the rows rowSelection keeps). */
  append(values: Vec, n: number): void;
  finish(dictionaryId: number): Data;
}

/** Largest |ms| a JavaScript Date (and so a sensible timestamp) can hold. */
const MAX_TIMESTAMP_MS = 8.64e15;
const INT_MAX = 2147483647;

abstract class BitmapColumn {
  protected rows = 0;
  protected nulls = 0;
  protected readonly bitmap: Uint8Array;

  constructor(capacity: number) {
    this.bitmap = new Uint8Array((capacity + 7) >> 3);
  }

  protected validity(): Validity {
    return this.nulls === 0
      ? { nullBitmap: undefined, nullCount: 0 }
      : { nullBitmap: this.bitmap, nullCount: this.nulls };
  }
}

/** numeric, integer, date and timestamp: doubles in, the stored type out; NaN and out-of-range are nulls. */
class NumberColumn extends BitmapColumn implements OutputColumn {
  private readonly values: Float64Array;
  private readonly ints: Int32Array | null;

  constructor(
    private readonly type: 'numeric' | 'integer' | 'date' | 'timestamp',
    capacity: number,
  ) {
    super(capacity);
    this.ints = type === 'integer' || type === 'date' ? new Int32Array(capacity) : null;
    this.values = this.ints === null ? new Float64Array(capacity) : new Float64Array(0);
  }

  append(source: Vec, n: number): void {
    const values = source as Float64Array;
    const bitmap = this.bitmap;
    let k = this.rows;
    let nulls = this.nulls;
    if (this.type === 'numeric') {
      const out = this.values;
      for (let i = 0; i < n; i++, k++) {
        const v = values[i] as number;
        const present = +!Number.isNaN(v);
        out[k] = v;
        bitmap[k >> 3] = (bitmap[k >> 3] as number) | (present << (k & 7));
        nulls += 1 - present;
      }
    } else {
      const ints = this.ints;
      const out = this.values;
      const timestamp = this.type === 'timestamp';
      const date = this.type === 'date';
      for (let i = 0; i < n; i++, k++) {
        let v = values[i] as number;
        // Dates with a fraction of a day (date + 0.5) are stored as their day; timestamps as whole ms.
        v = date ? Math.floor(v) : timestamp ? Math.round(v) : v;
        const ok = timestamp ? Math.abs(v) <= MAX_TIMESTAMP_MS : v >= -INT_MAX && v <= INT_MAX;
        if (ok) {
          bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
          if (ints !== null) ints[k] = v;
          else out[k] = v;
        } else {
          nulls++;
          if (ints !== null) ints[k] = 0;
          else out[k] = 0;
        }
      }
    }
    this.rows = k;
    this.nulls = nulls;
  }

  finish(): Data {
    const rows = this.rows;
    const validity = this.validity();
    switch (this.type) {
      case 'numeric':
        return float64Data(this.values.subarray(0, rows), validity, rows);
      case 'integer':
        return int32Data((this.ints as Int32Array).subarray(0, rows), validity, rows);
      case 'date':
        return dateDayData((this.ints as Int32Array).subarray(0, rows), validity, rows);
      case 'timestamp':
        return timestampData(this.values.subarray(0, rows), validity, rows);
    }
  }
}

class LogicalColumn extends BitmapColumn implements OutputColumn {
  private readonly values: Uint8Array;

  constructor(capacity: number) {
    super(capacity);
    this.values = new Uint8Array(capacity);
  }

  append(source: Vec, n: number): void {
    const codes = source as Uint8Array;
    const bitmap = this.bitmap;
    let k = this.rows;
    for (let i = 0; i < n; i++, k++) {
      const v = codes[i] as number;
      if (v === 1) {
        this.nulls++;
        this.values[k] = 0;
      } else {
        bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
        this.values[k] = v === 2 ? 1 : 0;
      }
    }
    this.rows = k;
  }

  finish(): Data {
    return boolData(this.values.subarray(0, this.rows), this.validity(), this.rows);
  }
}

class FactorColumn extends BitmapColumn implements OutputColumn {
  private readonly codes: Int32Array;

  constructor(
    capacity: number,
    private readonly dictionary: Vector<Utf8>,
  ) {
    super(capacity);
    this.codes = new Int32Array(capacity);
  }

  append(source: Vec, n: number): void {
    const codes = source as Int32Array;
    const bitmap = this.bitmap;
    const out = this.codes;
    let k = this.rows;
    let nulls = this.nulls;
    for (let i = 0; i < n; i++, k++) {
      const v = codes[i] as number;
      if (v >= 0) {
        out[k] = v;
        bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
      } else {
        out[k] = 0;
        nulls++;
      }
    }
    this.rows = k;
    this.nulls = nulls;
  }

  finish(dictionaryId: number): Data {
    const rows = this.rows;
    return dictionaryData(this.codes.subarray(0, rows), this.validity(), rows, dictionaryId, this.dictionary);
  }
}

class StringColumn extends BitmapColumn implements OutputColumn {
  private readonly strings: (string | null)[] = [];

  append(source: Vec, n: number): void {
    const strings = source as StrVec;
    for (let i = 0; i < n; i++) {
      const v = strings[i] ?? null;
      const k = this.rows + i;
      if (v === null) this.nulls++;
      else this.bitmap[k >> 3] = (this.bitmap[k >> 3] as number) | (1 << (k & 7));
      this.strings.push(v);
    }
    this.rows += n;
  }

  finish(): Data {
    const rows = this.rows;
    const offsets = new Int32Array(rows + 1);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const v = this.strings[r];
      if (v !== null && v !== undefined) total += Buffer.byteLength(v, 'utf8');
      offsets[r + 1] = total;
    }
    const bytes = Buffer.alloc(total);
    for (let r = 0; r < rows; r++) {
      const v = this.strings[r];
      if (v !== null && v !== undefined) bytes.write(v, offsets[r] as number, 'utf8');
    }
    return utf8Data(offsets, new Uint8Array(bytes.buffer, bytes.byteOffset, total), this.validity(), rows);
  }
}

export function outputColumn(type: VarType, capacity: number, dictionary: Vector<Utf8> | null): OutputColumn {
  switch (type) {
    case 'numeric':
    case 'integer':
    case 'date':
    case 'timestamp':
      return new NumberColumn(type, capacity);
    case 'logical':
      return new LogicalColumn(capacity);
    case 'factor':
      if (dictionary === null) throw new Error('a factor output needs its level list');
      return new FactorColumn(capacity, dictionary);
    case 'string':
      return new StringColumn(capacity);
  }
}
