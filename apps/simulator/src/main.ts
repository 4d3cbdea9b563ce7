// CLI: node apps/simulator/src/main.ts --devices 1000 --minutes 120 --seed 1 --target 127.0.0.1:50051
// Prints progress to stderr every second and a JSON summary (stats, accuracy vs. truth) to stdout.

import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import { createIngestUploader } from './ingest-uploader.ts';
import { runSimulation } from './run.ts';
import { InMemoryUploader, type PingUploader } from './uploader.ts';

const USAGE = `usage: node apps/simulator/src/main.ts [options]
  --devices N        simulated devices (default 100)
  --minutes M        simulated window, minutes (default 120; replay: ends now)
  --seed S           seed (default 1)
  --target H:P       ingest gRPC address (default 127.0.0.1:50051)
  --dry-run          do not upload: in-memory uploader (measures generation + ground truth)
  --rate R           cap on pings sent per second
  --realtime         pace uploads by simulated time (the window starts now)
  --concurrency C    uploads in flight (default 64)
  --partitions P     ingestion partitions for the exact expectation (default: one per region)
  --no-exact         skip the exact-definition aggregation (very large runs)
  --help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '100' },
      minutes: { type: 'string', default: '120' },
      seed: { type: 'string', default: '1' },
      target: { type: 'string', default: '127.0.0.1:50051' },
      'dry-run': { type: 'boolean', default: false },
      rate: { type: 'string' },
      realtime: { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '64' },
      partitions: { type: 'string' },
      'no-exact': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const num = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min)
      throw new RangeError(`--${name} must be a number >= ${min}, got ${v}`);
    return n;
  };
  const devices = num('devices', values.devices, 1) as number;
  const minutes = num('minutes', values.minutes, 1) as number;
  const uploader: PingUploader = values['dry-run']
    ? new InMemoryUploader({ record: false })
    : await createIngestUploader({ target: values.target });
  const controller = new AbortController();
  const closed = Promise.withResolvers<void>();
  // SIGINT/SIGTERM: stop generating, close the uploader (below), then exit; a second signal or 10 s
  // without finishing exits at once.
  const grace = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    controller.abort(err ?? new Error(signal === 'SIGINT' ? 'interrupted' : 'terminated'));
    await closed.promise;
  });
  try {
    const partitions = num('partitions', values.partitions, 1);
    const result = await runSimulation({
      uploader,
      devices: Math.floor(devices),
      durationMs: minutes * 60_000,
      seed: values.seed,
      realtime: values.realtime,
      concurrency: num('concurrency', values.concurrency, 1),
      ...(values.rate !== undefined ? { ratePingsPerSec: num('rate', values.rate, 1) } : {}),
      exactTruth: !values['no-exact'],
      ...(partitions !== undefined ? { truth: { partitions } } : {}),
      signal: controller.signal,
      onProgress: (p) =>
        process.stderr.write(
          `sim ${new Date(p.simTimeMs).toISOString()} | devices ${p.devices} | generated ${p.pingsGenerated} ` +
            `(${Math.round(p.generatedPerSec)}/s) | uploaded ${p.pingsUploaded} (${Math.round(p.uploadedPerSec)}/s) ` +
            `| in flight ${p.batchesInFlight}\n`,
        ),
    });
    const { plan, stats, truth } = result;
    const peaks = truth.truthPeaks().slice(0, 5);
    const summary = {
      window: { from: new Date(plan.fromMs).toISOString(), to: new Date(plan.toMs).toISOString() },
      event: plan.event && {
        place: plan.event.placeId,
        from: new Date(plan.event.startMs).toISOString(),
        to: new Date(plan.event.endMs).toISOString(),
      },
      stats,
      pingsPerSec: Math.round(stats.pingsUploaded / (stats.elapsedMs / 1000)),
      truePeaks: peaks.map((p) => ({
        place: p.place.id,
        cell: p.place.cell,
        peak: p.peak,
        at: new Date(p.bucketStartMs).toISOString(),
      })),
      ...(truth.exact ? { aggregation: truth.counts, exactVsTruth: truth.compare() } : {}),
    };
    console.log(JSON.stringify(summary, null, 2));
    return stats.failedBatches > 0 ? 1 : 0;
  } finally {
    await uploader.close?.();
    closed.resolve();
    grace.uninstall();
  }
}

process.exitCode = await main();
