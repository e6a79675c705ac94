import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('health and readiness', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('healthz answers while the process is up', async () => {
    const res = await request(server.url).get('/healthz').expect(200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  it('readyz reports Redis and the data folder', async () => {
    const res = await request(server.url).get('/readyz').expect(200);
    assert.deepEqual(res.body, { status: 'ready', checks: { redis: 'ok', dataDir: 'ok' } });
  });

  it('readyz is 503 when the data folder is not writable', async () => {
    // A file where the folder should be: unwritable even for root, which chmod is not.
    const dir = server.config.dataDir;
    await rename(dir, `${dir}.away`);
    await writeFile(dir, 'not a folder');
    try {
      const res = await request(server.url).get('/readyz').expect(503);
      assert.equal(res.body.status, 'unavailable');
      assert.equal(res.body.checks.redis, 'ok');
      assert.notEqual(res.body.checks.dataDir, 'ok');
    } finally {
      await rm(dir);
      await rename(`${dir}.away`, dir);
    }
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await request(server.url).get('/openapi.json').expect(200);
    assert.equal(doc.body.openapi, '3.0.3');
    assert.ok(doc.body.paths['/v1/datasets']);
    assert.ok(doc.body.paths['/v1/jobs/{id}']);
    const ui = await request(server.url).get('/docs/').expect(200);
    assert.match(ui.text, /swagger/i);
  });

  it('unknown routes get the common error shape', async () => {
    const res = await request(server.url).get('/v1/nope').expect(404);
    assert.equal(res.body.error.code, 'ROUTE_NOT_FOUND');
  });
});

describe('readiness without Redis', () => {
  let server: TestServer;
  before(async () => {
    // Nothing listens on port 1: Redis is "down" from the start.
    server = await startServer({ REDIS_URL: 'redis://127.0.0.1:1' });
  });
  after(() => server.close().catch(() => undefined));

  it('a request that needs Redis gets 503, not 500', async () => {
    const res = await request(server.url).get('/v1/jobs').expect(503);
    assert.equal(res.body.error.code, 'DEPENDENCY_UNAVAILABLE');
  });

  it('readyz is 503 and names Redis', async () => {
    const res = await request(server.url).get('/readyz').expect(503);
    assert.equal(res.body.status, 'unavailable');
    assert.notEqual(res.body.checks.redis, 'ok');
    assert.equal(res.body.checks.dataDir, 'ok');
  });
});
