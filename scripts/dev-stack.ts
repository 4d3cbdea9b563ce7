// `npm start`: the main job. Brings up a local Kafka broker, PostgreSQL (DATABASE_URL) or an embedded
// PGlite, the four services, and a simulated city whose phones upload in real time; prints where to
// look. Ctrl-C stops everything (no JVM is left behind even on kill -9: see LocalBroker).
import { assertNodeVersion } from '@footfall/config';
import { ensureDashboardBuilt } from '@footfall/dashboard';
import {
  backfillHistory,
  createCity,
  createIngestUploader,
  registerCityPlaces,
  runSimulation,
} from '@footfall/simulator';
import { startStack } from '@footfall/stack';
import closeWithGrace from 'close-with-grace';

assertNodeVersion();
// 600: enough for >= 10 cells above K_ANONYMITY at "now" (bench/results/nowcast.json: ~13 cells at 300,
// ~44 at 1000 devices), light enough for a laptop.
const devices = Number(process.env.SIM_DEVICES ?? 600);
const log = (line: string) => console.error(`[footfall] ${line}`);
const seed = process.env.SIM_SEED ?? '1';
// History for popular times (docs/simulator.md, "History"): SIM_HISTORY_WEEKS=0 turns it off.
const historyWeeks = Number(process.env.SIM_HISTORY_WEEKS ?? 2);
const historyDevices = Number(process.env.SIM_HISTORY_DEVICES ?? devices);
const historySampleMinutes = Number(process.env.SIM_HISTORY_SAMPLE_MINUTES ?? 3);
const DAY_MS = 86_400_000;

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
    // The history goes through its own lane (a second ingest + processor on `ingestion-backfill`, same
    // outputs): its own watermark, so weeks-old pings are not late there and live pings are never late
    // because of them. Only that lane's ingest accepts pings older than the default 48 h.
    ...(historyWeeks > 0 ? { backfill: { maxPingAgeMs: (historyWeeks * 7 + 1) * DAY_MS } } : {}),
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
    const city = createCity(seed);
    const lastHourMs = Math.floor(Date.now() / 1000) * 1000 - 3600_000;
    const historyFromMs = Math.floor(lastHourMs / 3600_000) * 3600_000 - historyWeeks * 7 * DAY_MS;
    const fresh = await registerPlaces(stack, city, historyFromMs);
    // Backfill the last hour first (a fast replay), so the map, top-K and "my time" have data at once.
    log('simulator: replaying the last hour …');
    const backfill = await runSimulation({
      uploader,
      devices,
      city,
      startMs: lastHourMs,
      seed: `${seed}-backfill`,
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
    // The history runs beside the live simulation, on the backfill lane.
    const historyDone =
      fresh && stack.backfill ? history(stack.backfill, city, lastHourMs) : Promise.resolve();
    let lastReport = 0;
    const result = await runSimulation({
      uploader,
      devices,
      seed,
      city,
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
    await historyDone;
    await uploader.close?.();
  } finally {
    await stack.close();
    log('stopped');
  }
}

/**
 * Registers the city's public places (station, mall, parks, offices, stadium, markets, cafés), effective
 * from the history's start, and waits until the processors know them. Returns false (no history) when
 * places exist already: a persistent DATABASE_URL from an earlier run.
 */
async function registerPlaces(
  stack: Awaited<ReturnType<typeof startStack>>,
  city: ReturnType<typeof createCity>,
  fromMs: number,
): Promise<boolean> {
  const existing = (await (await fetch(`${stack.apiUrl}/v1/places?limit=1`)).json()) as { total?: number };
  if ((existing.total ?? 0) > 0) {
    log(`places: ${existing.total} registered already; no history backfill`);
    return false;
  }
  const places = await registerCityPlaces(stack.apiUrl, stack.operatorToken, city, fromMs);
  const indexes = [stack.processor, stack.backfill?.processor].map((p) => p?.processor.places.index);
  while (!places.every((p) => indexes.every((index) => index === undefined || index.get(p.id)))) {
    controller.signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  log(`places: ${places.length} registered (${new Set(places.map((p) => p.simId)).size} of the city)`);
  return true;
}

/**
 * Uploads `historyWeeks` weeks of sampled history before `endMs` through the backfill lane, so that
 * popular times have a shape (docs/simulator.md, "History"), with a progress line every 5%. The lane
 * stays up (idle; its processor emits the history's last open buckets as it does live ones). A failure
 * is reported, never fatal: the live view does not depend on it.
 */
async function history(
  lane: NonNullable<Awaited<ReturnType<typeof startStack>>['backfill']>,
  city: ReturnType<typeof createCity>,
  endMs: number,
): Promise<void> {
  log(
    `history: ${historyWeeks} weeks before the last hour, ${historySampleMinutes} min of every hour, ` +
      `${historyDevices} devices, beside the live run (SIM_HISTORY_WEEKS=0 to skip) …`,
  );
  const started = performance.now();
  const uploader = await createIngestUploader({ target: lane.ingestTarget });
  let shown = -1;
  try {
    const result = await backfillHistory({
      uploader,
      devices: historyDevices,
      seed: `${seed}-history`,
      city,
      weeks: historyWeeks,
      endMs,
      sampleMinutes: historySampleMinutes,
      signal: controller.signal,
      onProgress: ({ done, total, pingsAccepted }) => {
        const pct = Math.floor((done / total) * 100);
        if (pct < shown + 5 && done < total) return;
        shown = pct;
        log(
          `history: ${pct}% (${done}/${total} hours, ${pingsAccepted} pings, ` +
            `${((performance.now() - started) / 1000).toFixed(0)} s)`,
        );
      },
    });
    if (result.failedBatches > 0) log(`history: ${result.failedBatches} uploads failed`);
    log(`history: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } catch (error) {
    if (!controller.signal.aborted) log(`history: failed: ${(error as Error).message}`);
  } finally {
    await uploader.close?.();
  }
}

running = main();
try {
  await running;
} finally {
  grace.uninstall();
}
