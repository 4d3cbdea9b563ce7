// Issue 17's lookup target as the issue states it: the throughput of the whole processor (decode,
// aggregation, place mapping, transactions) with 10k and 100k registered places, against the processor
// without places, catching up on the same 1M pings. bench/places.ts runs it as its `processor` part.
//
// Each place is 1–20 cells of the ring-2 disk around a cell where pings fall (cells outside the
// centre's region dropped, since a place lies in one region), so with 5,000 ping cells every ping cell
// is in about two places at 10k and twenty at 100k: denser than a real city, so the loss measured here
// errs high. Rounds interleave the variants, each run a fresh consumer group of the same input; the
// rate is taken from the moment every partition is assigned (after the places table is loaded) to the
// last commit, and also per CPU second of the processor child (/proc), which a noisy machine disturbs
// less than wall time.
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { PlaceDefinition } from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { createTopics, freePort, startLocalBroker } from '@footfall/kafka';
import { Producer } from '@platformatic/kafka';
import { gridDisk } from 'h3-js';
import {
  committedAndEnd,
  median,
  metricSum,
  PingFixture,
  scrape,
  startProcessorChild,
  waitUntil,
} from './processor-support.ts';

const PARTITIONS = 6;

interface Variant {
  readonly name: string;
  readonly places: number;
  readonly topic: string;
}

interface Run {
  readonly pingsPerSec: number;
  readonly pingsPerCpuSec: number;
  readonly placesLoaded: number;
  readonly updates: number;
  readonly transactions: number;
  readonly loadSeconds: number;
}

/** User + system CPU seconds of a process so far (Linux /proc; clock ticks of 100 Hz). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function publishPlaces(bootstrap: string, variant: Variant, fixture: PingFixture): Promise<void> {
  const producer = new Producer({ clientId: 'bench-places', bootstrapBrokers: [bootstrap], acks: -1 });
  try {
    let messages = [];
    for (let i = 0; i < variant.places; i++) {
      const centre = fixture.cells[Math.floor(fixture.random() * fixture.cells.length)]?.cell as string;
      const region = regionOf(centre);
      const size = 1 + Math.floor(fixture.random() * 20);
      const cells = gridDisk(centre, 2)
        .slice(0, size)
        .filter((c) => regionOf(c) === region);
      const id = `${variant.topic}-${i}`;
      const value = PlaceDefinition.encode({
        id,
        version: 1,
        name: `Place ${i}`,
        category: 'bench',
        cells,
        effectiveFromMs: 0,
        region,
      }).finish();
      messages.push({ topic: variant.topic, key: Buffer.from(id), value: Buffer.from(value) });
      if (messages.length === 1_000) {
        await producer.send({ messages });
        messages = [];
      }
    }
    if (messages.length > 0) await producer.send({ messages });
  } finally {
    await producer.close();
  }
}

async function catchUp(
  bootstrap: string,
  variant: Variant,
  round: number,
  children: ChildProcess[],
): Promise<Run> {
  const port = await freePort();
  const group = `bench-places-${variant.places}-${round}`;
  const spawnedAt = performance.now();
  const child = startProcessorChild(
    {
      KAFKA_BOOTSTRAP: bootstrap,
      LOG_LEVEL: 'warn',
      EMIT_INTERVAL_MS: '500',
      TOPIC_INGESTION: 'bench-in',
      TOPIC_AGGREGATED: `bench-out-${variant.places}`,
      TOPIC_PLACES: variant.topic,
      GROUP_ID: group,
      INSTANCE_ID: group,
      OPS_PORT: String(port),
    },
    process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [],
  );
  children.push(child);
  const pid = child.pid as number;
  // The clock starts once every partition is assigned: the places table is read before the group is
  // joined, and its load is reported apart (it is paid once per start, not per ping).
  await waitUntil(
    async () =>
      metricSum(await scrape(port).catch(() => ''), 'footfall_processor_assigned_partitions') === PARTITIONS,
    5 * 60_000,
    50,
  );
  const t0 = performance.now();
  const cpu0 = await cpuSeconds(pid);
  const [committed0] = await committedAndEnd(bootstrap, 'bench-in', group);
  let end = 0n;
  await waitUntil(async () => {
    const [c, e] = await committedAndEnd(bootstrap, 'bench-in', group);
    end = e;
    return c === e;
  }, 30 * 60_000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpu0;
  // The broker shows the last commit before the processor has counted it (its metrics are updated when
  // the commit's answer arrives): read them once two scrapes agree (nothing is left to commit).
  let text = await scrape(port);
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const again = await scrape(port);
    const updates = (t: string) => metricSum(t, 'footfall_processor_updates_total');
    if (updates(again) === updates(text)) break;
    text = again;
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const pings = Number(end - committed0);
  return {
    pingsPerSec: pings / seconds,
    pingsPerCpuSec: pings / cpu,
    placesLoaded: metricSum(text, 'footfall_places'),
    updates: metricSum(text, 'footfall_processor_updates_total'),
    transactions: metricSum(text, 'footfall_processor_transactions_total'),
    loadSeconds: (t0 - spawnedAt) / 1000,
  };
}

export async function processorPlacesBench(): Promise<Record<string, unknown>> {
  const pings = Number(process.env.BENCH_PROCESSOR_PINGS ?? 1_000_000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const loadBefore = loadavg();
  const startedAt = new Date().toISOString();
  const fixture = new PingFixture({ devices: 50_000, cells: 5_000, partitions: PARTITIONS, seed: 17 });
  const variants: Variant[] = [
    { name: 'no places', places: 0, topic: 'places-0' },
    { name: '10k places', places: 10_000, topic: 'places-10k' },
    { name: '100k places', places: 100_000, topic: 'places-100k' },
  ];
  const broker = await startLocalBroker({ heapMb: 1024, onProgress: (l) => console.error(l) });
  const children: ChildProcess[] = [];
  try {
    await createTopics(broker.bootstrap, [
      { name: 'bench-in', partitions: PARTITIONS },
      { name: 'erasures', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
      ...variants.flatMap((v) => [
        { name: v.topic, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
        {
          name: `bench-out-${v.places}`,
          partitions: PARTITIONS,
          configs: { 'cleanup.policy': 'compact,delete' },
        },
      ]),
    ]);
    for (const v of variants) await publishPlaces(broker.bootstrap, v, fixture);
    console.error(`filling bench-in with ${pings} pings…`);
    await fixture.fill(broker.bootstrap, 'bench-in', pings, Date.now() - 3_600_000);
    const runs = new Map<string, Run[]>(variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so that no variant always runs first (cold page cache) or last.
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + round) % variants.length] as Variant;
        const run = await catchUp(broker.bootstrap, v, round, children);
        runs.get(v.name)?.push(run);
        console.error(JSON.stringify({ part: 'processor', round, variant: v.name, ...run }));
      }
    }
    const base = runs.get('no places') ?? [];
    const baseRate = median(base.map((r) => r.pingsPerSec));
    const baseCpu = median(base.map((r) => r.pingsPerCpuSec));
    return {
      startedAt,
      pings,
      devices: fixture.devices,
      cells: fixture.cells.length,
      rounds,
      note: 'whole processor catch-up (1 instance, 6 partitions) from assignment to last commit; ratio = median pings/s of the variant / of no places; cpuRatio the same per CPU second of the processor; places of 1–20 cells around cells where pings fall',
      variants: variants.map((v) => {
        const rs = runs.get(v.name) ?? [];
        const rate = median(rs.map((r) => r.pingsPerSec));
        const cpuRate = median(rs.map((r) => r.pingsPerCpuSec));
        return {
          variant: v.name,
          places: v.places,
          placesLoaded: median(rs.map((r) => r.placesLoaded)),
          pingsPerSec: Math.round(rate),
          ratio: Number((rate / baseRate).toFixed(3)),
          roundRatios: rs.map((r, i) => Number((r.pingsPerSec / (base[i]?.pingsPerSec ?? 1)).toFixed(3))),
          pingsPerCpuSec: Math.round(cpuRate),
          cpuRatio: Number((cpuRate / baseCpu).toFixed(3)),
          updatesCommitted: median(rs.map((r) => r.updates)),
          transactions: median(rs.map((r) => r.transactions)),
          placesLoadSeconds: Number(median(rs.map((r) => r.loadSeconds)).toFixed(2)),
        };
      }),
      target: { variant: '10k places', minRatio: 0.9 },
      loadAverage: { before: loadBefore, after: loadavg() },
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await broker.close();
  }
}
