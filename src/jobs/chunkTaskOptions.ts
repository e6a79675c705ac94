/** BullMQ options of every chunk task (added by the coordinator, or moved by a stealing worker). */
export const CHUNK_TASK_OPTIONS = {
  // A failed child would otherwise leave the parent in waiting-children forever (bullmq#3362).
  failParentOnFailure: true,
  // attempts defaults to 1; a killed worker or a passing fault costs a retry, not the job.
  attempts: 3,
  backoff: { type: 'exponential', delay: 200 },
  // Partials live on in the parent's processed hash, so the child itself need not be kept.
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600 },
} as const;
