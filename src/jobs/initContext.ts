import type { AnyAnalysis, InitContext } from '../engine/analysis.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import { UserError } from '../userError.ts';

/**
 * Loads the other datasets an analysis names in its params (`extraInputs`), refusing any that is missing
 * or another tenant's with the same 404 as the job's own dataset, so `init` can check them before queuing.
 */
export async function loadInitContext(
  analysis: AnyAnalysis,
  params: unknown,
  tenant: string,
  get: (id: string) => Promise<DatasetMeta | null>,
): Promise<InitContext> {
  const datasets = new Map<string, DatasetMeta>();
  for (const id of analysis.extraInputs?.(params) ?? []) {
    const meta = await get(id);
    if (!meta || meta.tenant !== tenant) {
      throw new UserError(
        404,
        'DATASET_NOT_FOUND',
        `dataset '${id}' does not exist (or belongs to another tenant)`,
      );
    }
    datasets.set(id, meta);
  }
  return { datasets };
}
