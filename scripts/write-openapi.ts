/**
 * `npm run openapi` writes the OpenAPI document generated from the route schemas to
 * openapi/openapi.json; `npm run openapi:check` fails when the committed file differs (CI runs it).
 * No Redis is needed: the app is built with stand-in services that no route is called on.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { buildApp, type Services } from '../src/api/app.ts';
import { loadConfig } from '../src/config.ts';
import type { JobService } from '../src/jobs/jobService.ts';
import { DatasetStore } from '../src/storage/datasetStore.ts';

const target = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'openapi', 'openapi.json');

async function render(): Promise<string> {
  const config = loadConfig({});
  const services: Services = {
    config,
    store: new DatasetStore(config.dataDir),
    // Rendering the document calls no route; closing the app only releases long-polls (there are none).
    jobs: { releaseWaiters: () => undefined } as unknown as JobService,
    redis: {} as Redis,
  };
  const app = await buildApp(services, { logger: false });
  await app.ready();
  const text = `${JSON.stringify(app.swagger(), null, 2)}\n`;
  await app.close();
  return text;
}

const text = await render();
if (process.argv.includes('--check')) {
  const committed = await readFile(target, 'utf8').catch(() => '');
  if (committed !== text) {
    console.error('openapi/openapi.json is stale: run `npm run openapi` and commit the result');
    process.exit(1);
  }
  console.log('openapi/openapi.json matches the routes');
} else {
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
