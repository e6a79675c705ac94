import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration from the environment', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.redisUrlExplicit, false);
    assert.match(config.dataDir, /[/\\]data$/);
    assert.equal(config.queuePrefix, 'rxserve');
    assert.equal(config.apiKeys.size, 0);
    assert.equal(config.taskStealing, true);
  });

  it('TASK_STEALING: on unless set to 0 (false, no)', () => {
    assert.equal(loadConfig({ TASK_STEALING: '' }).taskStealing, true);
    assert.equal(loadConfig({ TASK_STEALING: '1' }).taskStealing, true);
    assert.equal(loadConfig({ TASK_STEALING: '0' }).taskStealing, false);
    assert.equal(loadConfig({ TASK_STEALING: 'no' }).taskStealing, false);
    assert.throws(() => loadConfig({ TASK_STEALING: 'maybe' }), /TASK_STEALING/);
  });

  it('parses API_KEYS into key -> tenant', () => {
    const config = loadConfig({ API_KEYS: 'k1:tenantA, k2:tenantB' });
    assert.equal(config.apiKeys.get('k1'), 'tenantA');
    assert.equal(config.apiKeys.get('k2'), 'tenantB');
  });

  it('rejects bad values with a message naming the variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty' }),
      (e: Error) => e instanceof ConfigError && /PORT/.test(e.message),
    );
    assert.throws(() => loadConfig({ API_KEYS: 'nokey' }), /API_KEYS/);
    assert.throws(() => loadConfig({ REDIS_URL: 'localhost:6379' }), /REDIS_URL/);
    assert.throws(() => loadConfig({ WORKERS: '-1' }), /WORKERS/);
  });

  it('refuses a non-loopback host without keys unless ALLOW_UNAUTHENTICATED=1', () => {
    assert.throws(() => loadConfig({ HOST: '0.0.0.0' }), /API_KEYS|ALLOW_UNAUTHENTICATED/);
    assert.equal(loadConfig({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: '1' }).host, '0.0.0.0');
    assert.equal(loadConfig({ HOST: '0.0.0.0', API_KEYS: 'k:t' }).host, '0.0.0.0');
  });

  it('exec: sandbox off by default, for the local user only when on without keys', () => {
    const config = loadConfig({});
    assert.equal(config.execSandbox, false);
    assert.deepEqual([...(config.execSandboxTenants as Set<string>)], ['local']);
    assert.equal(config.execMaxTimeoutMs, 60_000);
    assert.match(config.execPluginDirs[0] ?? '', /[/\\]plugins$/);
    assert.deepEqual([...(loadConfig({ API_KEYS: 'k:t' }).execSandboxTenants as Set<string>)], []);
    assert.equal(loadConfig({ API_KEYS: 'k:t', EXEC_SANDBOX_TENANTS: '*' }).execSandboxTenants, '*');
    assert.deepEqual(loadConfig({ EXEC_PLUGINS_DIR: '/a:/b' }).execPluginDirs, ['/a', '/b']);
  });

  it('exec: refuses settings that cannot work, naming them', () => {
    assert.throws(
      () => loadConfig({ API_KEYS: 'k:alice', EXEC_SANDBOX_TENANTS: 'alcie' }),
      /EXEC_SANDBOX_TENANTS.*'alcie'/,
    );
    assert.throws(
      () => loadConfig({ EXEC_MAX_TIMEOUT_MS: '700000' }),
      /EXEC_MAX_TIMEOUT_MS.*JOB_STALL_SECONDS/,
    );
    assert.throws(() => loadConfig({ EXEC_SANDBOX: 'maybe' }), /EXEC_SANDBOX must be 1 or 0/);
    assert.throws(() => loadConfig({ EXEC_SANDBOX_MEMORY_MB: '2' }), /EXEC_SANDBOX_MEMORY_MB/);
    assert.throws(
      () => loadConfig({ EXEC_MAX_RESULT_BYTES: '5000', EXEC_MAX_JOB_RESULT_BYTES: '4000' }),
      /EXEC_MAX_RESULT_BYTES/,
    );
  });
});
