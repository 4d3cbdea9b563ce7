// The load generator: enrolls devices, spreads them over worker threads, offers each step's rate
// open-loop, and reports per second and per step (latency percentiles, every status, the generator's
// own CPU per ping).
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import type { DeviceCredentials, Spot } from './batches.ts';
import { enrollDevices } from './enroll.ts';
import { addCounters, emptyCounters, type WorkerCounters, type WorkerOutput } from './protocol.ts';
import type { WorkerData } from './worker.ts';

export interface LoadStep {
  pingsPerSec: number;
  seconds: number;
}

export interface LoadOptions {
  target: string;
  steps: readonly LoadStep[];
  devices: number;
  workers: number;
  batchPings: number;
  /** HTTP/2 sessions per worker (each allows the server's max_concurrent_streams calls in flight). */
  sessionsPerWorker: number;
  timeoutMs: number;
  /** How far ahead of its due time a batch is built and signed, ms. */
  lookaheadMs: number;
  spots: readonly Spot[];
  seed: number;
  /** Already enrolled devices (else `devices` are enrolled first). */
  credentials?: readonly DeviceCredentials[];
  onSecond?: (second: SecondReport) => void;
  onStep?: (step: StepReport) => void;
  signal?: AbortSignal;
}

export interface SecondReport extends WorkerCounters {
  /** Seconds since the first step started. */
  t: number;
  step: number;
  offeredRate: number;
}

export interface LatencyMs {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface StepReport {
  step: number;
  offeredPingsPerSec: number;
  seconds: number;
  totals: WorkerCounters;
  acceptedPingsPerSec: number;
  /** From each batch's due time to its answer. */
  okLatencyMs: LatencyMs;
  refusedLatencyMs: LatencyMs;
  /** CPU of the whole generator process (all threads) in the step. */
  generatorCpuSec: number;
  generatorCpuMicrosPerOfferedPing: number;
}

export interface LoadResult {
  devices: number;
  enrollSeconds: number;
  steps: StepReport[];
}

function latency(h: hdr.Histogram): LatencyMs {
  const ms = (v: number) => Math.round(v) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}

const cpuSec = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const enrollStart = Date.now();
  const credentials = options.credentials
    ? [...options.credentials]
    : await enrollDevices(options.target, options.devices, { signal: options.signal });
  const enrollSeconds = (Date.now() - enrollStart) / 1000;
  const workerCount = Math.max(1, Math.min(options.workers, credentials.length));
  const workers: Worker[] = [];
  const seconds: WorkerCounters[] = [];
  const snapshots: { ok: string; refused: string }[] = [];
  let stoppedCount = 0;
  // Wakes whoever waits for the next worker message (snapshots, stop acknowledgements).
  let wake: (() => void) | undefined;
  const nextMessage = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const stepState = { step: -1, offeredRate: 0, t0: 0 };
  const stepTotals: WorkerCounters[] = [];
  let pendingSecond: { counters: WorkerCounters; reports: number } = {
    counters: emptyCounters(),
    reports: 0,
  };
  let secondsSinceStart = 0;
  // One report per worker per second: emitted when all have reported, and once more at the end for the
  // workers' final reports (their counts since the last full second must not be lost).
  const flushSecond = () => {
    const c = pendingSecond.counters;
    pendingSecond = { counters: emptyCounters(), reports: 0 };
    seconds.push(c);
    if (stepState.step >= 0) {
      stepTotals[stepState.step] ??= emptyCounters();
      addCounters(stepTotals[stepState.step] as WorkerCounters, c);
    }
    secondsSinceStart++;
    options.onSecond?.({
      ...c,
      t: secondsSinceStart,
      step: stepState.step,
      offeredRate: stepState.offeredRate,
    });
  };
  const onMessage = (message: WorkerOutput) => {
    if (message.type === 'second') {
      addCounters(pendingSecond.counters, message.counters);
      if (++pendingSecond.reports === workers.length) flushSecond();
    } else if (message.type === 'snapshot') snapshots.push(message);
    else if (message.type === 'stopped') stoppedCount++;
    wake?.();
  };
  try {
    for (let w = 0; w < workerCount; w++) {
      const data: WorkerData = {
        target: options.target,
        devices: credentials.filter((_, i) => i % workerCount === w),
        spots: [...options.spots],
        batchPings: options.batchPings,
        sessions: options.sessionsPerWorker,
        timeoutMs: options.timeoutMs,
        lookaheadMs: options.lookaheadMs,
        seed: options.seed * 1000 + w + 1,
      };
      const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: data });
      worker.on('message', onMessage);
      workers.push(worker);
    }
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const ready = (m: WorkerOutput) => {
              if (m.type === 'ready') {
                w.off('message', ready);
                resolve();
              }
            };
            w.on('message', ready);
            w.once('error', reject);
          }),
      ),
    );
    const reports: StepReport[] = [];
    for (const [i, step] of options.steps.entries()) {
      options.signal?.throwIfAborted();
      stepState.step = i;
      stepState.offeredRate = step.pingsPerSec;
      const perWorker = step.pingsPerSec / options.batchPings / workers.length;
      const cpu0 = cpuSec();
      for (const w of workers) w.postMessage({ type: 'rate', batchesPerSec: perWorker });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, step.seconds * 1000);
        options.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            reject(options.signal?.reason);
          },
          { once: true },
        );
      });
      const cpu = cpuSec() - cpu0;
      snapshots.length = 0;
      for (const w of workers) w.postMessage({ type: 'snapshot' });
      while (snapshots.length < workers.length) await nextMessage(1_000);
      const ok = hdr.build();
      const refused = hdr.build();
      for (const s of snapshots) {
        ok.add(hdr.decodeFromCompressedBase64(s.ok));
        refused.add(hdr.decodeFromCompressedBase64(s.refused));
      }
      const totals = stepTotals[i] ?? emptyCounters();
      // Summed per second above; in flight is a level, not a count: the last second's.
      totals.inflight = seconds.at(-1)?.inflight ?? 0;
      const report: StepReport = {
        step: i,
        offeredPingsPerSec: step.pingsPerSec,
        seconds: step.seconds,
        totals,
        acceptedPingsPerSec: Math.round(totals.acceptedPings / step.seconds),
        okLatencyMs: latency(ok),
        refusedLatencyMs: latency(refused),
        generatorCpuSec: +cpu.toFixed(2),
        generatorCpuMicrosPerOfferedPing: +(
          (cpu * 1e6) /
          Math.max(1, step.pingsPerSec * step.seconds)
        ).toFixed(2),
      };
      reports.push(report);
      options.onStep?.(report);
    }
    return { devices: credentials.length, enrollSeconds, steps: reports };
  } finally {
    for (const w of workers) w.postMessage({ type: 'stop' });
    const deadline = Date.now() + options.timeoutMs + 2_000;
    while (stoppedCount < workers.length && Date.now() < deadline) await nextMessage(100);
    if (pendingSecond.reports > 0) flushSecond();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
