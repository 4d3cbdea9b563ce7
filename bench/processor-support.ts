// What the processor benchmarks share (bench/processor.ts, bench/places-processor.ts): a seeded fixture
// of pings over a few cities, the processor as a child process (bench/processor-child.ts), and reading
// its progress from committed offsets and its /metrics.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PingRecord } from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import { CENTRES, mulberry32 } from '@footfall/testing';
import { Consumer, ListOffsetTimestamps, Producer } from '@platformatic/kafka';
import { latLngToCell } from 'h3-js';

const CHILD = join(import.meta.dirname, 'processor-child.ts');

export interface FixtureCell {
  readonly cell: string;
  readonly region: string;
  readonly partition: number;
  readonly lat: number;
  readonly lng: number;
}

/**
 * Devices that each live in one city (of {@link CENTRES}) and move among that city's resolution-10 cells
 * (10 % of pings move), one seeded random stream for the layout and the moves.
 */
export class PingFixture {
  readonly cells: FixtureCell[] = [];
  readonly devices: number;
  readonly #random: () => number;
  readonly #deviceCell: Int32Array;
  readonly #deviceSeq: Int32Array;

  constructor(options: { devices: number; cells: number; partitions: number; seed: number }) {
    this.devices = options.devices;
    this.#random = mulberry32(options.seed);
    for (let i = 0; i < options.cells; i++) {
      const [lat0, lng0] = CENTRES[i % CENTRES.length] as [number, number];
      const lat = lat0 + (this.#random() - 0.5) * 0.1;
      const lng = lng0 + (this.#random() - 0.5) * 0.1;
      const cell = latLngToCell(lat, lng, 10);
      const region = regionOf(cell, 5);
      this.cells.push({ cell, region, partition: javaPartition(region, options.partitions), lat, lng });
    }
    this.#deviceCell = new Int32Array(options.devices).map((_, d) => this.#pickCell(d));
    this.#deviceSeq = new Int32Array(options.devices);
  }

  /** Random numbers from the fixture's own stream (for callers that lay out more of the scene). */
  random(): number {
    return this.#random();
  }

  /** Start every device's ping sequence numbers above `n` (distinct ping ids for a second topic). */
  resetSequences(n: number): void {
    this.#deviceSeq.fill(n);
  }

  nextPing(d: number, eventTimeMs: number): { key: Buffer; value: Buffer; partition: number } {
    if (this.#random() < 0.1) this.#deviceCell[d] = this.#pickCell(d);
    const c = this.cells[this.#deviceCell[d] as number] as FixtureCell;
    const seq = (this.#deviceSeq[d] as number) + 1;
    this.#deviceSeq[d] = seq;
    const bytes = PingRecord.encode({
      pingId: `p${seq}`,
      deviceId: `device-${d}`,
      eventTimeMs,
      receivedAtMs: Date.now(),
      latitude: c.lat,
      longitude: c.lng,
      accuracyM: 5 + this.#random() * 40,
      cell: c.cell,
      activity: 0,
    }).finish();
    return { key: Buffer.from(c.region), value: Buffer.from(bytes), partition: c.partition };
  }

  /** Produces `n` pings, every device about once a minute of event time from `startMs`; pings/s. */
  async fill(bootstrap: string, topic: string, n: number, startMs: number): Promise<number> {
    const producer = new Producer({
      clientId: 'bench-fill',
      bootstrapBrokers: [bootstrap],
      compression: 'lz4',
      acks: 1,
    });
    const t0 = performance.now();
    const chunk = 10_000;
    const stepMs = 60_000 / this.devices;
    let inflight: Promise<unknown>[] = [];
    for (let i = 0; i < n; i += chunk) {
      const messages = [];
      for (let j = i; j < Math.min(n, i + chunk); j++) {
        messages.push({ topic, ...this.nextPing(j % this.devices, Math.floor(startMs + j * stepMs)) });
      }
      inflight.push(producer.send({ messages }));
      if (inflight.length >= 4) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);
    await producer.close();
    return n / ((performance.now() - t0) / 1000);
  }

  #pickCell(d: number): number {
    const per = Math.floor(this.cells.length / CENTRES.length);
    return (d % CENTRES.length) + CENTRES.length * Math.floor(this.#random() * per);
  }
}

/** The group's committed offsets and the topic's end offsets, each summed over partitions. */
export async function committedAndEnd(
  bootstrap: string,
  topic: string,
  groupId: string,
): Promise<[bigint, bigint]> {
  const consumer = new Consumer({ clientId: 'bench-lag', groupId, bootstrapBrokers: [bootstrap] });
  try {
    const ends =
      (await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })).get(topic) ??
      [];
    const committed =
      (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: ends.map((_, i) => i) }] })).get(
        topic,
      ) ?? [];
    const sum = (xs: bigint[]) => xs.reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
    return [sum(committed), sum(ends)];
  } finally {
    await consumer.close();
  }
}

/** The real processor service (env config) in a child with an IPC channel for {@link measure}. */
export function startProcessorChild(env: Record<string, string>, execArgv: string[] = []): ChildProcess {
  return spawn(process.execPath, ['--expose-gc', ...execArgv, CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

export interface Measured {
  heapUsed: number;
  rss: number;
  devices: number;
}

/**
 * Heap and RSS of a processor child and the devices it holds; after two full GCs unless `gc` is false
 * (RSS samples during the paced run: a forced full GC every few seconds would distort its latency).
 */
export function measure(child: ChildProcess, gc = true): Promise<Measured> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Measured));
    child.send(gc ? 'measure' : 'sample');
  });
}

/** Median of a sample (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** Least-squares slope of (x, y) pairs. */
export function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return num / den;
}

export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

export function metricSum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Quantile from a Prometheus histogram by linear interpolation inside the bucket. */
export function histogramQuantile(text: string, name: string, q: number): number {
  const buckets: [number, number][] = [];
  for (const line of text.split('\n')) {
    const m = line.match(new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)$`));
    if (m) buckets.push([m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2])]);
  }
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Polls `check` (a bench's progress probe, not a test's synchronisation) until true or the timeout. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error('timed out');
}
