import { randomBytes } from 'node:crypto';

/** Random ids with a type prefix (`ds_`, `job_`, `mdl_`): 80 random bits, URL-safe, lower case. */
export function newId(prefix: 'ds' | 'job' | 'mdl'): string {
  return `${prefix}_${randomBytes(10).toString('hex')}`;
}

/** True when `id` looks like an id of that prefix, so no path can be smuggled in as an id. */
export function isId(prefix: 'ds' | 'job' | 'mdl', id: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-f]{20}$`).test(id);
}
