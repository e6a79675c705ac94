/**
 * Which worker runs which chunk task. Each worker process caches the chunks it reads (chunkCache.ts),
 * so a task is worth most on the worker that ran the same chunks last time: the assignment must be
 * the same job after job while the workers stay the same, and move little when one joins or leaves.
 *
 * Rendezvous (highest-random-weight) hashing gives that: a task goes to the worker with the highest
 * hash of (worker, dataset, first chunk), so it depends only on the task and the set of workers, and a
 * worker joining takes about 1/n of the tasks from the others without shuffling the rest. Alone it
 * balances only on average (50 tasks on 2 workers split 30/20 often enough, and the job waits for the
 * 30), so each worker also takes at most its even share, ceil(tasks / workers): a task whose first
 * choice is full goes to its next choice ("consistent hashing with bounded loads", Mirrokni, Thorup
 * and Zadimoghaddam 2018). Tasks are placed in task order, so the outcome is still deterministic.
 */
export function assignTasks(
  workerIds: readonly string[],
  dataset: string,
  tasks: readonly { firstChunk: number }[],
): string[] {
  if (workerIds.length === 0) throw new Error('assignTasks needs at least one worker');
  // Sorted and deduplicated, so ties and the outcome do not depend on the order Redis listed them in.
  const workers = [...new Set(workerIds)].sort();
  const capacity = Math.ceil(tasks.length / workers.length);
  const load = new Map<string, number>(workers.map((id) => [id, 0]));
  const workerHashes = workers.map((id) => hashString(id, 0x9e3779b9));
  const datasetHash = hashString(dataset, 0x85ebca6b);
  const chosen: string[] = [];
  const weights = new Array<number>(workers.length);
  const order = workers.map((_, i) => i);
  for (const task of tasks) {
    const taskHash = mix32(datasetHash ^ mix32(task.firstChunk + 0x27d4eb2f));
    for (let w = 0; w < workers.length; w++) weights[w] = mix32(workerHashes[w]! ^ taskHash);
    order.sort((a, b) => weights[b]! - weights[a]! || a - b);
    const pick = order.find((w) => load.get(workers[w]!)! < capacity)!;
    const id = workers[pick]!;
    load.set(id, load.get(id)! + 1);
    chosen.push(id);
  }
  return chosen;
}

/** murmur3's 32-bit finaliser: every input bit affects every output bit. Unsigned result. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over the UTF-16 code units, finalised with mix32; `seed` keeps the two uses apart. */
function hashString(text: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix32(h);
}
