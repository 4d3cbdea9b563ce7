/**
 * The image's runtime file set really starts every service. No Docker engine runs here, so this does
 * what the Dockerfile's `deps` and `runtime` stages do, in a temp dir: copy exactly the paths the
 * runtime stage copies, `npm ci --omit=dev` (production dependencies only, no install scripts), then
 * start each service with the image's command and wait for its /healthz (and /readyz where its
 * dependencies are reachable: the test broker and an embedded database).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '@footfall/kafka';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { repoRoot } from './helpers.ts';

const run = promisify(execFile);

// The runtime stage's COPY lines (deploy/Dockerfile); dockerfile.test.ts checks they exist there.
const RUNTIME_PATHS = [
  'package.json',
  'package-lock.json',
  'proto',
  'packages',
  'apps',
  'deploy/healthcheck.ts',
];

test('a production-only install of the image file set starts all five services', {
  timeout: 300_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'footfall-image-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const path of RUNTIME_PATHS) {
    cpSync(join(repoRoot, path), join(dir, path), {
      recursive: true,
      // .dockerignore keeps these out of the build context.
      filter: (src) => !/\/(node_modules|dist|\.cache|test-artifacts)(\/|$)/.test(src),
    });
  }
  await run(
    'npm',
    [
      'ci',
      '--omit=dev',
      '--workspaces',
      '--include-workspace-root',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
    ],
    { cwd: dir, env: { ...process.env, NODE_ENV: 'production' }, maxBuffer: 32 * 1024 * 1024 },
  );
  // Dev tools must not be in the image.
  await assert.rejects(
    run(process.execPath, ['-e', "import('typescript')"], { cwd: dir }),
    'typescript is not installed',
  );

  const topics = await uniqueTopics(6);
  const secrets = {
    DEVICE_KEY_SECRET: 'x'.repeat(40),
    USER_TOKEN_SECRET: 'y'.repeat(40),
    OPERATOR_TOKEN: 'operator-token',
  };
  const services: { name: string; env: Record<string, string>; port: number }[] = [];
  for (const name of ['ingest', 'processor', 'sink', 'alerts', 'api']) {
    const port = await freePort();
    const portVar = name === 'api' ? 'API_PORT' : 'OPS_PORT';
    services.push({
      name,
      port,
      env: {
        ...secrets,
        [portVar]: String(port),
        GRPC_PORT: '0',
        KAFKA_BOOTSTRAP: kafkaBootstrap(),
        TOPIC_INGESTION: topics.ingestion,
        TOPIC_AGGREGATED: topics.aggregated,
        GROUP_ID: `image-${name}-${topics.ingestion}`,
        LOG_LEVEL: 'warn',
      },
    });
  }
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  for (const service of services) {
    const child = spawn(process.execPath, [`apps/${service.name}/src/main.ts`], {
      cwd: dir,
      // Only what a container has: no NODE_OPTIONS, no dev tools on PATH.
      env: { PATH: '/usr/bin:/bin', HOME: dir, NODE_ENV: 'production', ...service.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    children.push(child);
    await waitFor(
      `${service.name} /readyz from the production install`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${service.name} exited ${child.exitCode}: ${stderr.slice(-2000)}`);
        const health = await fetch(`http://127.0.0.1:${service.port}/healthz`);
        const ready = await fetch(`http://127.0.0.1:${service.port}/readyz`);
        return health.ok && ready.ok;
      },
      90_000,
      250,
    );
  }
  // Graceful shutdown on SIGTERM (what Kubernetes sends): every service exits 0 by itself.
  for (const child of children) {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});
