/**
 * Example registered function: a Monte Carlo estimate of pi (rxExec's classic). Each run throws
 * `samples` random points into the unit square and counts those inside the quarter circle; the runs'
 * `inside` counts add up to a better estimate. Uses ctx.random, so a seed makes it repeatable.
 *
 *   { "type": "exec", "params": { "function": "piEstimate", "args": { "samples": 100000 }, "timesToRun": 20, "seed": 1 } }
 */
import { Type } from 'typebox';
import type { ExecContext } from '../src/exec/pluginApi.ts';

export const name = 'piEstimate';
export const description = 'Monte Carlo estimate of pi from `samples` random points';

export const argsSchema = Type.Object(
  { samples: Type.Integer({ minimum: 1, maximum: 100_000_000 }) },
  { additionalProperties: false },
);

export function run(
  args: { samples: number },
  ctx: ExecContext,
): { samples: number; inside: number; estimate: number } {
  let inside = 0;
  for (let i = 0; i < args.samples; i++) {
    const x = ctx.random();
    const y = ctx.random();
    if (x * x + y * y <= 1) inside++;
  }
  return { samples: args.samples, inside, estimate: (4 * inside) / args.samples };
}
