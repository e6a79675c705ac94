import type { Table } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { readNumeric } from '../columns.ts';

/**
 * The per-variable facts of a dataset's meta.json (low, high, missing) for data a job writes, gathered
 * per chunk in `map` and merged like any partial, so a new dataset's meta is exact without another pass.
 */
export interface VarStats {
  low: number | null;
  high: number | null;
  missing: number;
}

/** Stats of `variables` in `table` (which holds them all). Units as datasetMeta.ts: days for dates, ms for timestamps. */
export function describeTable(table: Table, variables: readonly VarInfo[]): VarStats[] {
  return variables.map((variable) => {
    const vector = table.getChild(variable.name);
    if (vector === null) throw new Error(`column '${variable.name}' is not in the table`);
    const missing = vector.nullCount;
    if (variable.type === 'string') return { low: null, high: null, missing };
    if (variable.type === 'factor') {
      const any = table.numRows > missing && (variable.levels?.length ?? 0) > 0;
      return { low: any ? 0 : null, high: any ? variable.levels!.length - 1 : null, missing };
    }
    const { values, valid } = readNumeric(table, variable.name);
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < values.length; i++) {
      if (valid !== null && valid[i] === 0) continue;
      const v = values[i]!;
      // NaN is stored as a value (not a null) in numeric columns; it has no place in low/high.
      if (v < low) low = v;
      if (v > high) high = v;
    }
    return low <= high ? { low, high, missing } : { low: null, high: null, missing };
  });
}

export function mergeStats(a: readonly VarStats[], b: readonly VarStats[]): VarStats[] {
  return a.map((x, j) => {
    const y = b[j]!;
    return {
      low: x.low === null ? y.low : y.low === null ? x.low : Math.min(x.low, y.low),
      high: x.high === null ? y.high : y.high === null ? x.high : Math.max(x.high, y.high),
      missing: x.missing + y.missing,
    };
  });
}

/** Stats of two sets of rows together; null stands for no rows. */
export function mergeSomeStats(a: VarStats[] | null, b: VarStats[] | null): VarStats[] | null {
  return a === null ? b : b === null ? a : mergeStats(a, b);
}

/** `stats` (null: no rows yet) with the rows of `table` added, as a task adds each chunk it writes. */
export function addTableStats(
  stats: VarStats[] | null,
  table: Table,
  variables: readonly VarInfo[],
): VarStats[] {
  const added = describeTable(table, variables);
  return stats === null ? added : mergeStats(stats, added);
}

/** `variables` with their low/high/missing replaced by `stats` (same order). */
export function withStats(variables: readonly VarInfo[], stats: readonly VarStats[]): VarInfo[] {
  return variables.map((variable, j) => ({ ...variable, ...stats[j]! }));
}

/** Stats of an empty column set: what a variable with no rows has. */
export function emptyStats(count: number): VarStats[] {
  return Array.from({ length: count }, () => ({ low: null, high: null, missing: 0 }));
}
