import type { Redis } from 'ioredis';

/**
 * Moves a waiting chunk task from one BullMQ queue to another in one Lua script, so that no other
 * client ever sees it half moved. Written against BullMQ 6.7's layout (addStandardJob-9.lua,
 * removeJob-2.lua, moveToFinished-14.lua): a job is the hash `<prefix>:<queue>:<id>` (plus an optional
 * `:logs` list); a waiting job's id is in `<queue>:wait` and nowhere else of its queue (no lock, not in
 * active, delayed or prioritized); the queue's workers are woken by `<queue>:marker`; and a child is
 * pending for its parent while its job key is in `<parentKey>:dependencies`. The move renames the
 * hash to the target queue's key, keeps the id, name, options, parent and attempt counters, and
 * swaps the parent's dependency from the old key to the new one in the same step.
 *
 * Why not add a copy and remove the original (the first design): removing the original releases the
 * parent whenever no other key is pending, and adding a job whose id already exists in the target
 * queue adds nothing (BullMQ treats it as a duplicate and only re-links the parent). A task stolen
 * back into the queue it came from before the first thief had removed the original was therefore
 * lost: both removals ran, the parent's dependencies dropped to zero, and the coordinator merged
 * without that task's partial ("4 of 5 partials arrived"). In one script there is no such window,
 * and none for a worker killed between claiming a task and re-adding it either.
 */
const MOVE_SCRIPT = `
local rcall = redis.call
local fromWait, fromJob, fromLogs, fromLock, fromEvents = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local toJob, toLogs, toWait, toMarker, toMeta, toActive, toEvents = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local dependencies, stolenCount = KEYS[13], KEYS[14]
local id, parentKey, dataRead, dataMoved = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

-- A job of this id in the target queue (the task came from there and is still on its way out, or a
-- coordinator re-run put it there): leave the task where it is.
if rcall('EXISTS', toJob) == 1 then return -2 end
-- The task as it was read: same parent, same data, not held by a worker.
local fields = rcall('HMGET', fromJob, 'parentKey', 'data')
if fields[1] ~= parentKey or fields[2] ~= dataRead or rcall('EXISTS', fromLock) == 1 then return -1 end
-- Still a pending child (not once its parent is gone or failed it).
if rcall('SISMEMBER', dependencies, fromJob) == 0 then return -3 end
-- Still waiting: not fetched by the peer's worker, nor moved by another thief.
if rcall('LREM', fromWait, 1, id) == 0 then return 0 end

rcall('RENAME', fromJob, toJob)
if rcall('EXISTS', fromLogs) == 1 then rcall('RENAME', fromLogs, toLogs) end
rcall('HSET', toJob, 'data', dataMoved)
rcall('SREM', dependencies, fromJob)
rcall('SADD', dependencies, toJob)

-- As BullMQ's add does: LPUSH (FIFO), and a marker for the workers unless paused or at global concurrency.
rcall('LPUSH', toWait, id)
local meta = rcall('HMGET', toMeta, 'paused', 'concurrency', 'opts.maxLenEvents')
if not meta[1] and not (meta[2] and rcall('LLEN', toActive) >= tonumber(meta[2])) then
  rcall('ZADD', toMarker, 0, '0')
end
local maxEvents = tonumber(meta[3]) or 10000
rcall('XADD', fromEvents, 'MAXLEN', '~', maxEvents, '*', 'event', 'removed', 'jobId', id, 'prev', 'waiting')
rcall('XADD', toEvents, 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', id)
rcall('INCR', stolenCount)
return 1
`;

export interface TaskMove {
  /** BullMQ key prefix (`<QUEUE_PREFIX>:bull`). */
  prefix: string;
  fromQueue: string;
  toQueue: string;
  taskId: string;
  /** The parent's job key, as the task's hash holds it (`<prefix>:<queue>:<id>`). */
  parentKey: string;
  /** The task's `data` field as read before deciding to move it (the move checks it is unchanged). */
  dataRead: string;
  /** The `data` the moved task gets. */
  dataMoved: string;
  /** A counter of moved tasks, incremented with each move. */
  countKey: string;
}

/**
 * Why a task was or was not moved: `moved`; `taken` (no longer waiting: another thief moved it);
 * `changed` (gone, held by a worker, or not the task read: mostly fetched or finished since it was
 * read); `present` (a job with its id is in the target queue); `detached` (no longer a pending child
 * of its parent).
 */
export type MoveOutcome = 'moved' | 'taken' | 'changed' | 'present' | 'detached';

const OUTCOMES = new Map<number, MoveOutcome>([
  [1, 'moved'],
  [0, 'taken'],
  [-1, 'changed'],
  [-2, 'present'],
  [-3, 'detached'],
]);

export async function moveWaitingTask(redis: Redis, move: TaskMove): Promise<MoveOutcome> {
  const from = `${move.prefix}:${move.fromQueue}`;
  const to = `${move.prefix}:${move.toQueue}`;
  const fromJob = `${from}:${move.taskId}`;
  const toJob = `${to}:${move.taskId}`;
  const keys = [
    `${from}:wait`,
    fromJob,
    `${fromJob}:logs`,
    `${fromJob}:lock`,
    `${from}:events`,
    toJob,
    `${toJob}:logs`,
    `${to}:wait`,
    `${to}:marker`,
    `${to}:meta`,
    `${to}:active`,
    `${to}:events`,
    `${move.parentKey}:dependencies`,
    move.countKey,
  ];
  const code = await redis.eval(
    MOVE_SCRIPT,
    keys.length,
    ...keys,
    move.taskId,
    move.parentKey,
    move.dataRead,
    move.dataMoved,
  );
  const outcome = OUTCOMES.get(Number(code));
  if (outcome === undefined) throw new Error(`moving task ${move.taskId}: unexpected reply ${String(code)}`);
  return outcome;
}
