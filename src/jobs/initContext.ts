import type { AnyAnalysis, InitContext } from '../engine/analysis.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { StoredModel } from '../storage/modelStore.ts';
import { UserError } from '../userError.ts';

/**
 * Loads the other datasets an analysis names in its params (`extraInputs`), refusing any that is missing
 * or another tenant's with the same 404 as the job's own dataset, so `init` can check them before queuing;
 * likewise the stored models it names (`modelInputs`: 404 MODEL_NOT_FOUND).
 */
export async function loadInitContext(
  analysis: AnyAnalysis,
  params: unknown,
  tenant: string,
  get: (id: string) => Promise<DatasetMeta | null>,
  getModel: (tenant: string, id: string) => Promise<StoredModel | null> = async () => null,
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
  const models = new Map<string, StoredModel>();
  for (const id of analysis.modelInputs?.(params) ?? []) {
    const model = await getModel(tenant, id);
    if (!model) {
      throw new UserError(
        404,
        'MODEL_NOT_FOUND',
        `model '${id}' does not exist (or belongs to another tenant)`,
      );
    }
    models.set(id, model);
  }
  return { datasets, models };
}
