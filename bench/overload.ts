// Overload (issue #20 item 5): `node bench/overload.ts`. Finds the ingest service's sustainable rate on
// this machine (open-loop steps from apps/loadgen; the highest step that kept up), then offers
// BENCH_OVERLOAD_FACTOR (default 5) times that for BENCH_OVERLOAD_SECONDS (default 120) and records:
// every answer by gRPC status / transport outcome and `footfall-error-code`, how many carried the
// `footfall-retry-after-ms` hint, the service's RSS each second, and whether every acknowledged ping is on
// `ingestion` (records ≥ acknowledged pings; the surplus are pings written whose answer was an error).
// Writes bench/results/overload.json. The service runs with INGEST_SHED_EVENT_LOOP_DELAY_MS=100 as deployed;
// the generator's per-call timeout is the SDK's 10 s deadline (LOADGEN_TIMEOUT_MS). Env: BENCH_OVERLOAD_RAMP (steps, default 5000x20,…,40000x20),
// BENCH_OVERLOAD_SUSTAINABLE (skip the ramp), BENCH_OVERLOAD_DEVICES (default 5000).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNodeVersion } from '@footfall/config';
import type { SecondReport } from '@footfall/loadgen';
import { offerSteps, runGenerator, startIngestStack } from './ingest-stack.ts';
import { loadAverage, procSample } from './proc.ts';

assertNodeVersion();
const FACTOR = Number(process.env.BENCH_OVERLOAD_FACTOR ?? 5);
const SECONDS = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 120);
const DEVICES = Number(process.env.BENCH_OVERLOAD_DEVICES ?? 5_000);
const RAMP = process.env.BENCH_OVERLOAD_RAMP ?? '5000x20,10000x20,15000x20,20000x20,30000x20,40000x20';
const log = (line: string) => console.error(`[overload] ${line}`);

const startedAt = new Date().toISOString();
const loadStart = loadAverage();
// The service runs as deployed (deploy/k8s/base/ingest.yaml): CPU shedding on at 100 ms, unless the
// environment says otherwise.
const stack = await startIngestStack({
  partitions: 6,
  log,
  env: { INGEST_SHED_EVENT_LOOP_DELAY_MS: process.env.INGEST_SHED_EVENT_LOOP_DELAY_MS ?? '100' },
});
try {
  let sustainable = Number(process.env.BENCH_OVERLOAD_SUSTAINABLE ?? 0);
  let ramp: Awaited<ReturnType<typeof offerSteps>> = [];
  if (!sustainable) {
    log(`ramp ${RAMP} to find the sustainable rate …`);
    ramp = await offerSteps(stack, RAMP, DEVICES, log);
    sustainable = Math.max(0, ...ramp.filter((s) => s.keptUp).map((s) => s.offeredPingsPerSec));
    if (!sustainable) throw new Error(`no ramp step kept up: ${JSON.stringify(ramp)}`);
  }
  const offered = sustainable * FACTOR;
  log(`sustainable ${sustainable} pings/s; offering ${FACTOR}× = ${offered} pings/s for ${SECONDS} s`);
  const acceptedBefore = await stack.acceptedTotal();
  const recordsBefore = await stack.recordsOnIngestion();
  const timeline: {
    t: number;
    rssMb: number;
    cpuPercent: number;
    accepted: number;
    codes: Record<string, number>;
    inflight: number;
    skipped: number;
  }[] = [];
  let prevCpu = procSample(stack.ingest.pid as number)?.cpuSec ?? 0;
  const run = runGenerator(
    {
      LOADGEN_TARGET: stack.target,
      LOADGEN_STEPS: `${offered}x${SECONDS}`,
      LOADGEN_DEVICES: String(DEVICES),
      // Many connections, like many phones (each has its own): the server's per-connection stream limit
      // is not the cap, and one connection does not carry the cancellations of hundreds of devices. With
      // 8 per worker (16 for 5 000 devices) the generator's own timeouts tripped nghttp2's per-connection
      // rapid-reset guard (GOAWAY INTERNAL_ERROR, every call on it reset), which no phone can do.
      LOADGEN_SESSIONS_PER_WORKER: process.env.LOADGEN_SESSIONS_PER_WORKER ?? '64',
      // The SDK's per-attempt deadline (DeviceClient `deadlineMs`, default 10 s): an answer later than this
      // is one a phone never sees, so it counts as CLIENT_TIMEOUT, not as a refusal with a hint.
      LOADGEN_TIMEOUT_MS: process.env.LOADGEN_TIMEOUT_MS ?? '10000',
    },
    (s: SecondReport) => {
      const p = procSample(stack.ingest.pid as number);
      timeline.push({
        t: s.t,
        rssMb: Math.round(p?.rssMb ?? 0),
        cpuPercent: Math.round(((p?.cpuSec ?? 0) - prevCpu) * 100),
        accepted: s.acceptedPings,
        codes: s.codes,
        inflight: s.inflight,
        skipped: s.skippedNoStream,
      });
      prevCpu = p?.cpuSec ?? prevCpu;
      if (s.t % 10 === 0)
        log(
          `t=${s.t}s rss ${timeline.at(-1)?.rssMb} MB accepted ${s.acceptedPings}/s ${JSON.stringify(s.codes)} inflight ${s.inflight}`,
        );
    },
  );
  const { seconds, steps } = await run.done;
  const step = steps[0];
  // Let sends already handed to the producer settle before counting (PRODUCE_TIMEOUT_MS is 5 s).
  await sleep(6_000);
  const ackedPings = seconds.reduce((n, s) => n + s.acceptedPings, 0);
  const records = (await stack.recordsOnIngestion()) - recordsBefore;
  const serviceAccepted = (await stack.acceptedTotal()) - acceptedBefore;
  const rss = timeline.map((p) => p.rssMb);
  const codes: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  let retryHints = 0;
  let retryHintMaxMs = 0;
  let skipped = 0;
  for (const s of seconds) {
    for (const [k, v] of Object.entries(s.codes)) codes[k] = (codes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.errorCodes)) errorCodes[k] = (errorCodes[k] ?? 0) + v;
    retryHints += s.retryHints;
    retryHintMaxMs = Math.max(retryHintMaxMs, s.retryHintMaxMs);
    skipped += s.skippedNoStream;
  }
  const answered = Object.values(codes).reduce((a, b) => a + b, 0);
  const refusals = answered - (codes.OK ?? 0);
  const fromHandler = (codes.RESOURCE_EXHAUSTED ?? 0) + (codes.UNAVAILABLE ?? 0);
  const result = {
    startedAt,
    note: 'Loaded-machine numbers: 2 cores shared with other engineers’ work (see loadAverage).',
    loadAverage: { start: loadStart, end: loadAverage() },
    ramp,
    sustainablePingsPerSec: sustainable,
    factor: FACTOR,
    offeredPingsPerSec: offered,
    seconds: SECONDS,
    devices: DEVICES,
    answers: {
      answered,
      codes,
      errorCodes,
      refusals,
      withRetryHint: retryHints,
      retryHintMaxMs,
      skippedByGenerator: skipped,
    },
    refusalsWithStatusAndHintShare: refusals ? +(retryHints / refusals).toFixed(4) : 1,
    refusalsResourceExhaustedOrUnavailableShare: refusals ? +(fromHandler / refusals).toFixed(4) : 1,
    // Where the other refusals came from. REFUSED_STREAM (RST_STREAM 7) would mean "not processed, retry"
    // in HTTP/2 terms, but it carries no hint: counted apart, never as a refusal with a hint.
    refusalsWithoutHint: {
      clientTimeout: codes.CLIENT_TIMEOUT ?? 0,
      grpcDeadlineExceeded: codes.DEADLINE_EXCEEDED ?? 0,
      rstEnhanceYourCalm: codes.RST_STREAM_11 ?? 0,
      rstInternalError: codes.RST_STREAM_2 ?? 0,
      rstRefusedStream: codes.RST_STREAM_7 ?? 0,
      other:
        refusals -
        retryHints -
        ['CLIENT_TIMEOUT', 'DEADLINE_EXCEEDED', 'RST_STREAM_11', 'RST_STREAM_2', 'RST_STREAM_7'].reduce(
          (n, k) => n + (codes[k] ?? 0),
          0,
        ),
    },
    acceptedPingsPerSec: Math.round(ackedPings / SECONDS),
    okLatencyMs: step?.okLatencyMs,
    refusedLatencyMs: step?.refusedLatencyMs,
    generatorCpuMicrosPerOfferedPing: step?.generatorCpuMicrosPerOfferedPing,
    ingestRssMb: { first: rss[0], max: Math.max(...rss), last: rss.at(-1) },
    accounting: {
      acknowledgedPings: ackedPings,
      serviceCountedAccepted: serviceAccepted,
      recordsOnIngestion: records,
      lost: Math.max(0, ackedPings - records),
      writtenButAnsweredWithError: Math.max(0, records - ackedPings),
    },
    timeline,
  };
  writeFileSync(
    join(import.meta.dirname, 'results', 'overload.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  console.log(JSON.stringify({ ...result, timeline: undefined, ramp: undefined }, null, 2));
} finally {
  await stack.close();
}
