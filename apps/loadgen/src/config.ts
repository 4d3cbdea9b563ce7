import { ConfigError, type ConfigOf, loadConfig, v } from '@footfall/config';
import type { LoadStep } from './run.ts';

/** Every variable the load generator reads (docs/loadgen.md has the same table). */
export const loadgenSpec = {
  target: v.string('LOADGEN_TARGET', '127.0.0.1:50051', 'ingest gRPC address, host:port'),
  steps: v.string(
    'LOADGEN_STEPS',
    '10000x60',
    'offered load, `pings/s x seconds` steps separated by commas (e.g. `10000x120,20000x120`)',
  ),
  devices: v.int('LOADGEN_DEVICES', 20_000, 'devices enrolled and uploading round-robin', 1),
  workers: v.int('LOADGEN_WORKERS', 2, 'worker threads sending', 1, 64),
  batchPings: v.int('LOADGEN_BATCH_PINGS', 50, 'pings per signed upload', 1, 10_000),
  sessionsPerWorker: v.int('LOADGEN_SESSIONS_PER_WORKER', 4, 'HTTP/2 connections per worker', 1, 1_000),
  timeoutMs: v.int('LOADGEN_TIMEOUT_MS', 10_000, 'per-call deadline (grpc-timeout), ms', 1),
  lookaheadMs: v.int('LOADGEN_LOOKAHEAD_MS', 1_000, 'batches are built and signed this far ahead, ms', 0),
  seed: v.int('LOADGEN_SEED', 7, 'seed of the city and of device movements'),
};

export type LoadgenConfig = ConfigOf<typeof loadgenSpec> & { stepList: LoadStep[] };

/** `10000x60,20000x60` → steps. */
export function parseSteps(text: string): LoadStep[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*x\s*(\d+(?:\.\d+)?)\s*$/.exec(part);
    if (!m) throw new ConfigError([`LOADGEN_STEPS: "${part}" is not \`pings/s x seconds\``]);
    return { pingsPerSec: Number(m[1]), seconds: Number(m[2]) };
  });
}

export function loadLoadgenConfig(env: Record<string, string | undefined> = process.env): LoadgenConfig {
  const config = loadConfig(loadgenSpec, env);
  return Object.freeze({ ...config, stepList: parseSteps(config.steps) });
}
