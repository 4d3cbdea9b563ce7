// Load generator child of bench/pipeline.ts: the simulator (replay mode, rate-capped) uploading through
// the real ingest service. Prints one JSON line per second on stdout: {t, uploaded, accepted, rejected}.
import { createIngestUploader, runSimulation } from '@footfall/simulator';

const target = process.env.TARGET ?? '127.0.0.1:50051';
const rate = Number(process.env.RATE ?? 20_000);
const devices = Number(process.env.DEVICES ?? 20_000);
const windowMs = Number(process.env.WINDOW_MINUTES ?? 240) * 60_000;
const controller = new AbortController();
// The parent stops the load when its measuring window ends; nothing here needs a graceful end.
process.once('SIGTERM', () => process.exit(0));

const uploader = await createIngestUploader({ target, maxOpenClients: 256, enrollConcurrency: 32 });
const started = Date.now();
try {
  const result = await runSimulation({
    uploader,
    devices,
    seed: process.env.SEED ?? 7,
    durationMs: windowMs,
    ratePingsPerSec: rate,
    concurrency: 96,
    exactTruth: false,
    signal: controller.signal,
    progressIntervalMs: 1000,
    onProgress: (p) => {
      console.log(
        JSON.stringify({ t: Date.now() - started, uploaded: p.pingsUploaded, generated: p.pingsGenerated }),
      );
    },
  });
  console.log(JSON.stringify({ done: true, stats: result.stats }));
} catch (error) {
  if (!controller.signal.aborted) throw error;
  console.log(JSON.stringify({ done: true, aborted: true }));
} finally {
  await uploader.close?.();
}
