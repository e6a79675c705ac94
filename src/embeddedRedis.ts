import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';

/** True when a Redis at `url` answers PING within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

export const NO_REDIS_HELP =
  'rxserve needs Redis. Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) ' +
  'so that `redis-server` is on the PATH, start one on 127.0.0.1:6379, or set REDIS_URL=redis://host:port.';

/**
 * Starts a private `redis-server` from the PATH for `npm start`'s embedded default: its files under
 * `<dataDir>/redis`, append-only persistence on, so jobs survive a restart of rxserve. Returns null when
 * there is no redis-server to start.
 */
export async function startEmbeddedRedis(dataDir: string, port: number): Promise<EmbeddedRedis | null> {
  const dir = path.join(dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--save',
    '',
  ];
  let child: ChildProcess;
  try {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch {
    return null;
  }
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && child.exitCode === null; i++) {
    if (await redisAnswers(url, 500)) {
      return {
        url,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  return null;
}
