// Load generator child of bench/pipeline.ts: the simulator (replay mode, rate-capped) uploading through
// the real ingest service. Prints one JSON line per second on stdout: {t, uploaded, accepted, rejected}.
import { createIngestUploader, runSimulation } from '@footfall/simulator';
import closeWithGrace from 'close-with-grace';

const target = process.env.TARGET ?? '127.0.0.1:50051';
const rate = Number(process.env.RATE ?? 20_000);
const devices = Number(process.env.DEVICES ?? 20_000);
const windowMs = Number(process.env.WINDOW_MINUTES ?? 240) * 60_000;
const controller = new AbortController();
// The parent stops the load (SIGTERM) when its measuring window ends: stop uploading, close the
// clients, exit (close-with-grace; at most 5 s).
const closed = Promise.withResolvers<void>();
closeWithGrace({ delay: 5_000 }, async () => {
  controller.abort();
  await closed.promise;
});

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
  closed.resolve();
}
