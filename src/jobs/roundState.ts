import type { Redis } from 'ioredis';
import type { JobKeys } from './keys.ts';

/**
 * The analysis state of each round lives in one Redis key written by the coordinator, instead of in
 * every chunk task's data: a round of 500 tasks would otherwise store it 500 times.
 * Workers keep the few states they use in memory, since every task of a round reads the same one.
 */
export class RoundStates {
  private readonly cache = new Map<string, unknown>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: JobKeys,
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Stores the state, and keeps here what a load would read back (a decoded copy, not `state` itself):
   * the coordinator loads the round's state right after saving it, and so does a task of the round in
   * this process, which then need no round trip to Redis.
   */
  async save(jobId: string, round: number, state: unknown): Promise<void> {
    const key = this.keys.state(jobId, round);
    const text = JSON.stringify(state);
    await this.redis.set(key, text, 'EX', this.ttlSeconds);
    this.remember(key, JSON.parse(text));
  }

  async load(jobId: string, round: number): Promise<unknown> {
    const key = this.keys.state(jobId, round);
    if (this.cache.has(key)) return this.cache.get(key);
    const text = await this.redis.get(key);
    if (text === null) return undefined;
    const state: unknown = JSON.parse(text);
    this.remember(key, state);
    return state;
  }

  private remember(key: string, state: unknown): void {
    this.cache.delete(key);
    if (this.cache.size >= 16) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, state);
  }

  async drop(jobId: string, rounds: number): Promise<void> {
    const keys = Array.from({ length: rounds }, (_, round) => this.keys.state(jobId, round));
    if (keys.length > 0) await this.redis.del(...keys);
  }
}
