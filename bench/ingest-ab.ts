// A/B of ingest settings or builds on one broker (`node bench/ingest-ab.ts`; not part of `npm run bench`).
// On a shared box a single run moves ±50 %, so variants are alternated round by round against the same
// broker and the same open-loop load (apps/loadgen), and each row is printed as it is measured:
// accepted pings/s, OK latency from due time, CPU µs per accepted ping of the service and of the broker,
// and records per producer send (coalescing, the main driver of both CPU figures).
// Env: BENCH_AB_VARIANTS (JSON {name: {ENV: value, …}}; the key MAIN names another entry point, e.g. a
// patched copy of apps/ingest/src), BENCH_AB_ROUNDS (default 3), BENCH_AB_STEPS (loadgen steps, the
// last one is reported; default a 5 s warm-up then 12 s at 8 000 pings/s), BENCH_AB_DEVICES (2 000),
// BENCH_CPU_PROF_DIR (each service run writes a --cpu-prof profile under <dir>/<variant>).
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { assertNodeVersion } from '@footfall/config';
import { freePort, startLocalBroker } from '@footfall/kafka';
import { type IngestStack, offerSteps } from './ingest-stack.ts';
import { metricSum, waitReady } from './pipeline-support.ts';
import { loadAverage } from './proc.ts';

assertNodeVersion();
const root = join(import.meta.dirname, '..');
const log = (line: string) => console.error(`[ingest-ab] ${line}`);
const variants = JSON.parse(
  process.env.BENCH_AB_VARIANTS ??
    '{"default":{},"linger5-sends1":{"PRODUCE_LINGER_MS":"5","PRODUCE_MAX_CONCURRENT_SENDS":"1"}}',
) as Record<string, Record<string, string>>;
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 3);
const STEPS = process.env.BENCH_AB_STEPS ?? '8000x5,8000x12';
const DEVICES = Number(process.env.BENCH_AB_DEVICES ?? 2_000);
const profDir = process.env.BENCH_CPU_PROF_DIR;

const broker = await startLocalBroker({
  heapMb: 768,
  readyTimeoutMs: 240_000,
  topics: [
    { name: 'ingestion', partitions: 6 },
    { name: 'erasures', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
  ],
  onProgress: log,
});
const jvmPid = Number(
  execFileSync('pgrep', ['-P', String(broker.pid), 'java'])
    .toString()
    .trim()
    .split('\n')[0],
);
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, { MAIN, ...env }] of Object.entries(variants)) {
      const [grpcPort, opsPort] = [await freePort(), await freePort()];
      const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, name)}`] : [];
      const ingest = spawn(process.execPath, [...prof, join(root, MAIN ?? 'apps/ingest/src/main.ts')], {
        env: {
          ...process.env,
          KAFKA_BOOTSTRAP: broker.bootstrap,
          GRPC_HOST: '127.0.0.1',
          GRPC_PORT: String(grpcPort),
          OPS_PORT: String(opsPort),
          LOG_LEVEL: 'warn',
          DEVICE_KEY_SECRET: 'bench-device-key-secret-0123456789abcdef',
          USER_TOKEN_SECRET: 'bench-user-token-secret-0123456789abcdef',
          ALLOW_DEV_ATTESTATION: 'true',
          INGEST_ENROLL_PER_MIN: '1000000',
          INGEST_ENROLL_BURST: '1000000',
          ...env,
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      try {
        await waitReady(`http://127.0.0.1:${opsPort}/readyz`, 'ingest');
        // offerSteps reads only the target, the service's pid and the broker's.
        const stack = { target: `127.0.0.1:${grpcPort}`, ingest, jvmPid } as unknown as IngestStack;
        const load = loadAverage()[0];
        const last = (await offerSteps(stack, STEPS, DEVICES, log)).at(-1);
        const metrics = `http://127.0.0.1:${opsPort}/metrics`;
        const sends = await metricSum(metrics, 'footfall_ingest_produce_send_records_count');
        const records = await metricSum(metrics, 'footfall_ingest_produce_send_records_sum');
        console.log(
          JSON.stringify({
            round,
            variant: name,
            load1: load,
            acceptedPingsPerSec: last?.acceptedPingsPerSec,
            okP50Ms: last?.okLatencyMs.p50,
            okP99Ms: last?.okLatencyMs.p99,
            serviceCpuMicrosPerPing: last?.serviceCpuMicrosPerPing,
            brokerCpuMicrosPerPing: last?.brokerCpuMicrosPerPing,
            recordsPerSend: +(records / Math.max(1, sends)).toFixed(1),
            codes: last?.codes,
          }),
        );
      } finally {
        ingest.kill('SIGTERM');
        if (ingest.exitCode === null) await new Promise((r) => ingest.once('exit', r));
      }
    }
  }
} finally {
  await broker.close();
}
