import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureKafkaJars } from './local-broker.ts';

const execFileAsync = promisify(execFile);

/** Kafka's own producer ceiling, the baseline our ingestion rate is reported against. */
export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Kafka's own consumer ceiling, the baseline our processing rate is reported against. */
export interface ConsumerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
}

async function runTool(className: string, args: string[], cacheDir?: string): Promise<string> {
  const libs = await ensureKafkaJars(cacheDir);
  const { stdout } = await execFileAsync('java', ['-Xmx512m', '-cp', `${libs}/*`, className, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/**
 * Runs `org.apache.kafka.tools.ProducerPerformance` from the same jars as the broker
 * (acks=all, idempotent, same record size as ours) and parses its summary line.
 */
export async function producerPerformance(options: {
  bootstrap: string;
  topic: string;
  records: number;
  recordSizeBytes: number;
  /** Extra producer properties, e.g. `{ 'linger.ms': '5' }`. */
  props?: Record<string, string>;
}): Promise<ProducerPerfResult> {
  const props = { acks: 'all', 'enable.idempotence': 'true', ...options.props };
  const out = await runTool('org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    options.topic,
    '--num-records',
    String(options.records),
    '--record-size',
    String(options.recordSizeBytes),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${options.bootstrap}`,
    ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
  ]);
  // "100000 records sent, 81234.5 records/sec (7.75 MB/sec), 12.3 ms avg latency, 300.0 ms max latency,
  //  10 ms 50th, 20 ms 95th, 30 ms 99th, 40 ms 99.9th."
  const summary = out.trim().split('\n').at(-1) ?? '';
  const m = summary.match(
    /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency.*?(\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/,
  );
  if (!m) throw new Error(`unexpected ProducerPerformance output: ${summary}`);
  return {
    records: Number(m[1]),
    recordsPerSec: Number(m[2]),
    mbPerSec: Number(m[3]),
    avgLatencyMs: Number(m[4]),
    p50Ms: Number(m[5]),
    p99Ms: Number(m[6]),
  };
}

/** Runs `org.apache.kafka.tools.ConsumerPerformance` over `records` records of `topic`. */
export async function consumerPerformance(options: {
  bootstrap: string;
  topic: string;
  records: number;
  groupId?: string;
}): Promise<ConsumerPerfResult> {
  const out = await runTool('org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server',
    options.bootstrap,
    '--topic',
    options.topic,
    '--messages',
    String(options.records),
    '--group',
    options.groupId ?? `perf-${Date.now()}`,
    '--hide-header',
    '--timeout',
    '60000',
  ]);
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
  const line = out.trim().split('\n').at(-1) ?? '';
  const cols = line.split(',').map((c) => c.trim());
  const records = Number(cols[4]);
  const recordsPerSec = Number(cols[5]);
  if (!Number.isFinite(records) || !Number.isFinite(recordsPerSec)) {
    throw new Error(`unexpected ConsumerPerformance output: ${line}`);
  }
  return { records, recordsPerSec, mbPerSec: Number(cols[3]) };
}
