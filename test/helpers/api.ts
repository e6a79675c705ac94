import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';

/** ../shared/data/reference, beside the repository. */
export const REFERENCE_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'shared',
  'data',
  'reference',
);

export async function referenceText(relative: string): Promise<string> {
  return readFile(path.join(REFERENCE_DIR, relative), 'utf8');
}

export async function referenceJson<T>(relative: string): Promise<T> {
  return JSON.parse(await referenceText(relative)) as T;
}

export interface Auth {
  key?: string;
}

function withAuth(req: request.Test, auth: Auth): request.Test {
  return auth.key ? req.set('authorization', `Bearer ${auth.key}`) : req;
}

/** Uploads CSV text and returns the dataset info (201 expected). */
export async function uploadCsv(
  url: string,
  csv: string,
  query: Record<string, string | number> = {},
  auth: Auth = {},
): Promise<{ id: string; numChunks: number; numRows: number }> {
  const params = new URLSearchParams({
    name: 'test',
    ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])),
  });
  const res = await withAuth(
    request(url).post(`/v1/datasets?${params}`).set('content-type', 'text/csv'),
    auth,
  ).send(csv);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

export interface JobView {
  id: string;
  status: string;
  progress: {
    fraction: number;
    chunksDone: number;
    chunksTotal: number;
    round: number;
    rowsProcessed: number;
  };
  error: { code: string; message: string } | null;
}

export async function submitJob(
  url: string,
  body: { type: string; dataset?: string; params?: Record<string, unknown> },
  auth: Auth = {},
): Promise<JobView> {
  const res = await withAuth(request(url).post('/v1/jobs'), auth).send(body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.headers['location'], `/v1/jobs/${res.body.id}`);
  return res.body;
}

/** Long-polls until the job ends (or `seconds` pass, which fails the test). */
export async function waitForJob(url: string, id: string, seconds = 120, auth: Auth = {}): Promise<JobView> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const res = await withAuth(request(url).get(`/v1/jobs/${id}?waitSeconds=5`), auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    if (['completed', 'failed', 'cancelled'].includes(res.body.status)) return res.body;
    if (Date.now() > deadline) assert.fail(`job ${id} still ${res.body.status} after ${seconds} s`);
  }
}

/** Submits, waits for completion (at most `seconds`) and returns the result object. */
export async function runJob<T>(
  url: string,
  body: { type: string; dataset?: string; params?: Record<string, unknown> },
  auth: Auth = {},
  seconds = 120,
): Promise<T> {
  const job = await submitJob(url, body, auth);
  const done = await waitForJob(url, job.id, seconds, auth);
  assert.equal(done.status, 'completed', JSON.stringify(done.error));
  const res = await withAuth(request(url).get(`/v1/jobs/${job.id}/result`), auth).expect(200);
  return res.body.result as T;
}

/** A dataset as the API describes it (the fields tests read). */
export interface DatasetView {
  id: string;
  name: string;
  numRows: number;
  numChunks: number;
  rowsPerChunk: number;
  chunkRows: number[];
  variables: Array<{
    name: string;
    type: string;
    levels?: string[];
    low: number | null;
    high: number | null;
    missing: number;
  }>;
}

/** Every row of a dataset, through the rows endpoint. */
export async function datasetRows(url: string, id: string): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  for (let offset = 0; ; offset += 1000) {
    const res = await request(url).get(`/v1/datasets/${id}/rows?offset=${offset}&limit=1000`).expect(200);
    rows.push(...(res.body.rows as Array<Record<string, unknown>>));
    if (offset + 1000 >= res.body.numRows) return rows;
  }
}

/** A dataset as a client sees it, without what differs between two runs of a job (id, createdAt). */
export async function fingerprint(url: string, id: string) {
  const res = await request(url).get(`/v1/datasets/${id}`).expect(200);
  const { id: _id, createdAt: _c, ...info } = res.body as DatasetView & { createdAt: string };
  return { info, rows: await datasetRows(url, id) };
}

/** NIST's log relative error: digits of agreement with the certified value. */
export function lre(estimate: number, certified: number): number {
  if (estimate === certified) return 15;
  const relative =
    certified === 0 ? Math.abs(estimate) : Math.abs(estimate - certified) / Math.abs(certified);
  return Math.min(15, -Math.log10(relative));
}
