// Shared by bench/ingest-h2.ts and bench/overload.ts: a private broker, the ingest service as its own
// process, and apps/loadgen as another (so neither shares an event loop or a CPU account with the other).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, type LocalBroker, startLocalBroker } from '@footfall/kafka';
import type { SecondReport, StepReport } from '@footfall/loadgen';
import { Consumer } from '@platformatic/kafka';
import { metricSum, waitReady } from './pipeline-support.ts';
import { procSample } from './proc.ts';

const root = join(import.meta.dirname, '..');

export interface IngestStack {
  broker: LocalBroker;
  target: string;
  opsPort: number;
  ingest: ChildProcess;
  jvmPid: number;
  acceptedTotal(): Promise<number>;
  /** Records on `ingestion` (sum of end offsets; the producer is idempotent, not transactional). */
  recordsOnIngestion(): Promise<number>;
  close(): Promise<void>;
}

export async function startIngestStack(options: {
  partitions: number;
  env?: Record<string, string>;
  log: (s: string) => void;
}): Promise<IngestStack> {
  const broker = await startLocalBroker({
    heapMb: 768,
    // The shared machine can take minutes to start a JVM.
    readyTimeoutMs: 240_000,
    topics: [
      { name: 'ingestion', partitions: options.partitions },
      { name: 'perf', partitions: options.partitions },
      { name: 'erasures', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ],
    onProgress: options.log,
  });
  const [grpcPort, opsPort] = [await freePort(), await freePort()];
  // BENCH_CPU_PROF_DIR=dir: the service runs with --cpu-prof (profile written there on SIGTERM).
  // BENCH_INGEST_NODE_ARGS: other node flags for the service only (NODE_OPTIONS refuses --cpu-prof, and
  // would profile the generator too).
  const profDir = process.env.BENCH_CPU_PROF_DIR;
  const profArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const nodeArgs = [...profArgs, ...(process.env.BENCH_INGEST_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const ingest = spawn(process.execPath, [...nodeArgs, join(root, 'apps/ingest/src/main.ts')], {
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
      // Every generated device enrolls from this one address.
      INGEST_ENROLL_PER_MIN: '1000000',
      INGEST_ENROLL_BURST: '1000000',
      ...options.env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitReady(`http://127.0.0.1:${opsPort}/readyz`, 'ingest');
  const jvmPid = Number(
    execFileSync('pgrep', ['-P', String(broker.pid), 'java'])
      .toString()
      .trim()
      .split('\n')[0],
  );
  return {
    broker,
    target: `127.0.0.1:${grpcPort}`,
    opsPort,
    ingest,
    jvmPid,
    acceptedTotal: () =>
      metricSum(`http://127.0.0.1:${opsPort}/metrics`, 'footfall_ingest_pings_accepted_total'),
    async recordsOnIngestion() {
      const consumer = new Consumer({
        clientId: 'bench',
        groupId: 'bench-count',
        bootstrapBrokers: [broker.bootstrap],
      });
      try {
        const ends = (await consumer.listOffsets({ topics: ['ingestion'] })).get('ingestion') ?? [];
        return ends.reduce((n, end) => n + Number(end), 0);
      } finally {
        await consumer.close(true);
      }
    },
    async close() {
      ingest.kill('SIGTERM');
      if (ingest.exitCode === null) await new Promise((r) => ingest.once('exit', r));
      await broker.close();
    },
  };
}

export interface GeneratorRun {
  pid: number;
  done: Promise<{ seconds: SecondReport[]; steps: StepReport[] }>;
  child: ChildProcess;
}

/** Runs apps/loadgen (LOADGEN_* from `env`) as its own process; resolves with its reports. */
export function runGenerator(
  env: Record<string, string>,
  onSecond?: (s: SecondReport) => void,
): GeneratorRun {
  const child = spawn(process.execPath, [join(root, 'apps/loadgen/src/main.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seconds: SecondReport[] = [];
  const steps: StepReport[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const m = JSON.parse(line) as { type: string } & SecondReport & StepReport;
    if (m.type === 'second') {
      seconds.push(m);
      onSecond?.(m);
    } else if (m.type === 'step') steps.push(m);
  });
  const done = new Promise<{ seconds: SecondReport[]; steps: StepReport[] }>((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve({ seconds, steps }) : reject(new Error(`loadgen exited with ${code}`)),
    ),
  );
  return { pid: child.pid as number, done, child };
}

export interface RampStep {
  offeredPingsPerSec: number;
  acceptedPingsPerSec: number;
  keptUp: boolean;
  codes: Record<string, number>;
  okLatencyMs: StepReport['okLatencyMs'];
  serviceCpuMicrosPerPing: number;
  brokerCpuMicrosPerPing: number;
  generatorCpuMicrosPerPing: number;
}

/**
 * Offers each step open-loop and measures, per step, the accepted rate, the answers, the latency from
 * due time and the CPU per accepted ping of the service, the broker and the generator (from /proc at
 * each of the generator’s per-second reports). A step "kept up" when ≥ 90 % of its offered pings were
 * accepted and ≥ 99 % of its answers were OK.
 */
export async function offerSteps(
  stack: IngestStack,
  steps: string,
  devices: number,
  log: (s: string) => void,
): Promise<RampStep[]> {
  const cpuAt: { step: number; ingest: number; kafka: number; loadgen: number }[] = [];
  let pid = 0;
  const run = runGenerator(
    { LOADGEN_TARGET: stack.target, LOADGEN_STEPS: steps, LOADGEN_DEVICES: String(devices) },
    (s) => {
      cpuAt.push({
        step: s.step,
        ingest: procSample(stack.ingest.pid as number)?.cpuSec ?? 0,
        kafka: procSample(stack.jvmPid)?.cpuSec ?? 0,
        loadgen: procSample(pid)?.cpuSec ?? 0,
      });
      if (s.t % 10 === 0) log(`t=${s.t}s step ${s.step} ok ${s.codes.OK ?? 0} ${JSON.stringify(s.codes)}`);
    },
  );
  pid = run.pid;
  const { steps: reports } = await run.done;
  return reports.map((r) => {
    const samples = cpuAt.filter((c) => c.step === r.step);
    const first = cpuAt[cpuAt.indexOf(samples[0] as (typeof cpuAt)[number]) - 1] ?? samples[0];
    const last = samples.at(-1);
    const pings = Math.max(1, r.totals.acceptedPings);
    const per = (k: 'ingest' | 'kafka' | 'loadgen') =>
      first && last ? +(((last[k] - first[k]) * 1e6) / pings).toFixed(2) : Number.NaN;
    const answered = Math.max(1, r.totals.answered);
    return {
      offeredPingsPerSec: r.offeredPingsPerSec,
      acceptedPingsPerSec: r.acceptedPingsPerSec,
      keptUp:
        r.acceptedPingsPerSec >= 0.9 * r.offeredPingsPerSec && (r.totals.codes.OK ?? 0) / answered >= 0.99,
      codes: r.totals.codes,
      okLatencyMs: r.okLatencyMs,
      serviceCpuMicrosPerPing: per('ingest'),
      brokerCpuMicrosPerPing: per('kafka'),
      generatorCpuMicrosPerPing: per('loadgen'),
    };
  });
}
