import { setTimeout as sleep } from 'node:timers/promises';
import { GroundTruth, type GroundTruthOptions } from './ground-truth.ts';
import type { UploadBatch } from './phone.ts';
import {
  planSimulation,
  type SimulateOptions,
  type SimulationPlan,
  simDeviceId,
  timeline,
} from './timeline.ts';
import { acceptedPings, type PingUploader } from './uploader.ts';

/** Progress of a run, reported about once a second. Rates are per wall-clock second since the last report. */
export interface Progress {
  /** Upload time (simulated) of the latest batch sent, ms since the epoch. */
  simTimeMs: number;
  elapsedMs: number;
  devices: number;
  pingsGenerated: number;
  pingsUploaded: number;
  generatedPerSec: number;
  uploadedPerSec: number;
  batchesInFlight: number;
}

/** Counters of a finished run. */
export interface RunStats {
  devices: number;
  /** Distinct pings generated (a retried batch counts once). */
  pingsGenerated: number;
  /** Pings sent, retries included. */
  pingsUploaded: number;
  pingsAccepted: number;
  pingsRejected: number;
  batches: number;
  retryBatches: number;
  /** Batches holding pings buffered while offline. */
  lateBatches: number;
  /** Uploads that failed for good: the service may or may not have taken them (exact expectation unsure). */
  failedBatches: number;
  /** Message of the first failed upload, if any. */
  firstError?: string;
  /** Rejections by reason. */
  rejectReasons: Record<string, number>;
  elapsedMs: number;
}

/** Options of {@link runSimulation}. */
export interface RunOptions extends SimulateOptions {
  uploader: PingUploader;
  /** Uploads in flight at most (default 64); one device's uploads are always sequential. */
  concurrency?: number;
  /** Pace uploads by their simulated upload time (the window then starts now). Default false: replay. */
  realtime?: boolean;
  /** Cap on pings sent per second (default: none). */
  ratePingsPerSec?: number;
  /** Ground truth: false = only physical truth, no exact aggregation (for very large runs). */
  exactTruth?: boolean;
  /** Passed to {@link GroundTruth} (partitions, aggregator parameters, cell resolution). */
  truth?: Omit<GroundTruthOptions, 'fromMs' | 'toMs' | 'exact'>;
  onProgress?: (p: Progress) => void;
  /** Default 1000. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  plan: SimulationPlan;
  stats: RunStats;
  truth: GroundTruth;
  /** Simulator id → server-issued id (empty when the uploader does not enroll). */
  deviceIds: ReadonlyMap<string, string>;
}

/**
 * Generates the run, uploads every batch through `uploader` in upload-time order (late offline batches
 * late, retries with the same ping ids), and builds the ground truth from what was accepted.
 */
export async function runSimulation(options: RunOptions): Promise<RunResult> {
  const { uploader, signal } = options;
  const realtime = options.realtime ?? false;
  const plan = planSimulation(
    realtime && options.startMs === undefined
      ? { ...options, startMs: Math.floor(Date.now() / 1000) * 1000 }
      : options,
  );
  const truth = new GroundTruth(plan.city, {
    ...options.truth,
    fromMs: plan.fromMs,
    toMs: plan.toMs,
    exact: options.exactTruth ?? true,
  });
  const concurrency = Math.max(1, options.concurrency ?? 64);
  const progressEvery = options.progressIntervalMs ?? 1000;
  const stats: RunStats = {
    devices: plan.deviceCount,
    pingsGenerated: 0,
    pingsUploaded: 0,
    pingsAccepted: 0,
    pingsRejected: 0,
    batches: 0,
    retryBatches: 0,
    lateBatches: 0,
    failedBatches: 0,
    rejectReasons: {},
    elapsedMs: 0,
  };
  const started = performance.now();
  let lastReport = started;
  let lastGenerated = 0;
  let lastUploaded = 0;
  let simTimeMs = plan.fromMs;
  const inflight = new Set<Promise<void>>();
  const lastOfDevice = new Map<string, Promise<void>>();
  let firstError: unknown;

  const report = (now: number) => {
    const dt = Math.max(1, now - lastReport) / 1000;
    options.onProgress?.({
      simTimeMs,
      elapsedMs: now - started,
      devices: plan.deviceCount,
      pingsGenerated: stats.pingsGenerated,
      pingsUploaded: stats.pingsUploaded,
      generatedPerSec: (stats.pingsGenerated - lastGenerated) / dt,
      uploadedPerSec: (stats.pingsUploaded - lastUploaded) / dt,
      batchesInFlight: inflight.size,
    });
    lastReport = now;
    lastGenerated = stats.pingsGenerated;
    lastUploaded = stats.pingsUploaded;
  };

  const send = async (batch: UploadBatch): Promise<void> => {
    try {
      const outcome = await uploader.upload(batch.deviceId, batch.pings, signal);
      stats.pingsUploaded += batch.pings.length;
      stats.pingsAccepted += outcome.accepted;
      stats.pingsRejected += outcome.rejected.length;
      for (const r of outcome.rejected) {
        const k = String(r.reason);
        stats.rejectReasons[k] = (stats.rejectReasons[k] ?? 0) + 1;
      }
      truth.addAccepted(batch.deviceId, acceptedPings(batch.pings, outcome));
    } catch (error) {
      if (signal?.aborted) throw error;
      stats.failedBatches++;
      firstError ??= error;
    }
  };

  let tokens = options.ratePingsPerSec ?? Number.POSITIVE_INFINITY;
  let tokensAt = performance.now();
  let n = 0;
  for (const batch of timeline(plan, (d) => truth.addDevice(d))) {
    signal?.throwIfAborted();
    if (!batch.isRetry) stats.pingsGenerated += batch.pings.length;
    stats.batches++;
    if (batch.isRetry) stats.retryBatches++;
    if (batch.late) stats.lateBatches++;
    simTimeMs = batch.uploadAtMs;
    if (realtime) {
      const wait = batch.uploadAtMs - Date.now();
      if (wait > 0) {
        report(performance.now());
        await sleep(wait, undefined, { signal });
      }
    }
    if (options.ratePingsPerSec !== undefined) {
      const rate = options.ratePingsPerSec;
      for (;;) {
        const now = performance.now();
        tokens = Math.min(rate, tokens + ((now - tokensAt) / 1000) * rate);
        tokensAt = now;
        if (tokens >= Math.min(rate, batch.pings.length)) break;
        await sleep(Math.max(1, ((Math.min(rate, batch.pings.length) - tokens) / rate) * 1000), undefined, {
          signal,
        });
      }
      tokens -= batch.pings.length;
    }
    while (inflight.size >= concurrency) await Promise.race(inflight);
    const prev = lastOfDevice.get(batch.deviceId);
    const p: Promise<void> = (prev ? prev.then(() => send(batch)) : send(batch)).finally(() => {
      inflight.delete(p);
      if (lastOfDevice.get(batch.deviceId) === p) lastOfDevice.delete(batch.deviceId);
    });
    inflight.add(p);
    lastOfDevice.set(batch.deviceId, p);
    // Let timers and signals run even when the uploader answers synchronously (in-memory runs).
    if ((++n & 1023) === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      const now = performance.now();
      if (now - lastReport >= progressEvery) report(now);
    } else if ((n & 63) === 0) {
      const now = performance.now();
      if (now - lastReport >= progressEvery) report(now);
    }
  }
  await Promise.all(inflight);
  truth.flush();
  stats.elapsedMs = performance.now() - started;
  report(performance.now());
  if (firstError !== undefined) stats.firstError = String(firstError);
  const deviceIds = new Map<string, string>();
  if (uploader.deviceIdOf) {
    for (let i = 0; i < plan.deviceCount; i++) {
      const id = simDeviceId(i);
      const server = uploader.deviceIdOf(id);
      if (server !== undefined) deviceIds.set(id, server);
    }
  }
  return { plan, stats, truth, deviceIds };
}
