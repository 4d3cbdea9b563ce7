// `npm start`: the main job. Brings up a local Kafka broker, PostgreSQL (DATABASE_URL) or an embedded
// PGlite, the four services, and a simulated city whose phones upload in real time; prints where to
// look. Ctrl-C stops everything (no JVM is left behind even on kill -9: see LocalBroker).
import { assertNodeVersion } from '@footfall/config';
import { ensureDashboardBuilt } from '@footfall/dashboard';
import { createIngestUploader, runSimulation } from '@footfall/simulator';
import { startStack } from '@footfall/stack';
import closeWithGrace from 'close-with-grace';

assertNodeVersion();
// 600: enough for >= 10 cells above K_ANONYMITY at "now" (bench/results/nowcast.json: ~13 cells at 300,
// ~44 at 1000 devices), light enough for a laptop.
const devices = Number(process.env.SIM_DEVICES ?? 600);
const log = (line: string) => console.error(`[footfall] ${line}`);

/** The variables of `process.env` whose names match `pattern` (set and non-empty). */
function passThrough(pattern: RegExp): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => pattern.test(e[0]) && !!e[1]),
  );
}

const controller = new AbortController();
let running: Promise<void> = Promise.resolve();
// SIGINT/SIGTERM (or a crash): stop the simulation, let main() close the stack, then exit; a second
// signal or 30 s without finishing exits at once (close-with-grace).
const grace = closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
  log(err ? `stopping after an error: ${err.stack ?? err.message}` : `${signal}: stopping`);
  controller.abort();
  await running.catch(() => {});
});

async function main(): Promise<void> {
  log('dashboard: building the page if needed');
  await ensureDashboardBuilt();
  const stack = await startStack({
    kafkaBootstrap: process.env.KAFKA_BOOTSTRAP,
    databaseUrl: process.env.DATABASE_URL,
    ports: {
      grpc: 50051,
      api: Number(process.env.API_PORT ?? 8080),
      ingestOps: 9101,
      processorOps: 9102,
      sinkOps: 9103,
      alertsOps: 9105,
    },
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    onProgress: log,
    // The privacy settings reach every service (the processor bounds contributions in dp mode, the API
    // gates answers): `PRIVACY_MODE=dp npm start` (docs/privacy.md).
    env: passThrough(/^(PRIVACY_MODE|K_ANONYMITY|DP_[A-Z_]+)$/),
  });
  try {
    log(
      `database: ${stack.db.kind === 'pglite' ? 'embedded PGlite (in memory; set DATABASE_URL for PostgreSQL)' : 'PostgreSQL'}`,
    );
    log(`Kafka:     ${stack.kafkaBootstrap}`);
    log(
      `privacy:   ${process.env.PRIVACY_MODE === 'dp' ? 'differential privacy (PRIVACY_MODE=dp)' : 'k-anonymity'}`,
    );
    log(`ingest:    grpc://${stack.ingestTarget}  (ops http://127.0.0.1:9101/metrics)`);
    log(`API:       ${stack.apiUrl}  (OpenAPI ${stack.apiUrl}/openapi.json)`);
    log(`dashboard: ${stack.apiUrl}/dashboard/`);
    log(`operator token (Authorization: Bearer …): ${stack.operatorToken}`);
    log(`simulating ${devices} devices in real time (SIM_DEVICES to change); Ctrl-C to stop`);
    const uploader = await createIngestUploader({ target: stack.ingestTarget });
    // Backfill the last hour first (a fast replay), so the map, top-K and "my time" have data at once.
    log('simulator: replaying the last hour …');
    const backfill = await runSimulation({
      uploader,
      devices,
      seed: `${process.env.SIM_SEED ?? 1}-backfill`,
      durationMs: 3600_000,
      exactTruth: false,
      signal: controller.signal,
    });
    log(`simulator: backfilled ${backfill.stats.pingsAccepted} pings from ${backfill.stats.devices} devices`);
    const someone = [...backfill.deviceIds.keys()][0];
    const identity = someone === undefined ? undefined : uploader.identityOf(someone);
    if (identity) {
      log(`a simulated user for "my time": id ${identity.deviceId}`);
      log(`  token: ${identity.userToken}`);
    }
    let lastReport = 0;
    const result = await runSimulation({
      uploader,
      devices,
      seed: process.env.SIM_SEED ?? 1,
      durationMs: 24 * 3600_000,
      realtime: true,
      exactTruth: false,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.elapsedMs - lastReport < 10_000) return;
        lastReport = p.elapsedMs;
        log(
          `simulator: ${p.pingsUploaded} pings uploaded (${p.uploadedPerSec.toFixed(0)}/s), ${p.devices} devices`,
        );
      },
    }).catch((error: unknown) => {
      if (controller.signal.aborted) return undefined;
      throw error;
    });
    if (result) log(`simulation finished: ${JSON.stringify(result.stats)}`);
    await uploader.close?.();
  } finally {
    await stack.close();
    log('stopped');
  }
}

running = main();
try {
  await running;
} finally {
  grace.uninstall();
}
