/**
 * Example rxExecBy function: the rows, sum and mean of a numeric variable in the run's partition (a
 * chunk of the job's dataset, or a level of `keys`). Reads the data through ctx.readPartition, so it
 * sees only the job tenant's datasets.
 *
 *   { "type": "exec", "dataset": "ds_...", "params": { "function": "partitionSummary", "args": { "variable": "x" }, "keys": ["g"] } }
 */
import { Type } from 'typebox';
import { readNumeric } from '../src/engine/columns.ts';
import type { ExecContext } from '../src/exec/pluginApi.ts';

export const name = 'partitionSummary';
export const description = 'Rows, non-missing count, sum and mean of a numeric variable per partition';

export const argsSchema = Type.Object(
  { variable: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);

export async function run(
  args: { variable: string },
  ctx: ExecContext,
): Promise<{ rows: number; n: number; sum: number; mean: number | null }> {
  let rows = 0;
  let n = 0;
  let sum = 0;
  for await (const piece of ctx.readPartition([args.variable])) {
    const column = readNumeric(piece.table, args.variable);
    const take = (i: number) => {
      rows++;
      if (column.valid !== null && column.valid[i] === 0) return;
      n++;
      sum += column.values[i] ?? 0;
    };
    if (piece.rows === null) for (let i = 0; i < piece.table.numRows; i++) take(i);
    else for (const i of piece.rows) take(i);
  }
  return { rows, n, sum, mean: n > 0 ? sum / n : null };
}
