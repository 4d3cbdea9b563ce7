// Final answers of the API against the exact expectation of the ground truth (the definitions of
// docs/insights.md over exactly the accepted pings): the same comparison as test/e2e, which also shows
// that a run without faults gives exactly these answers.
import { type GroundTruth, placeCells } from '@footfall/simulator';

const BUCKET_MS = 60_000;

interface Series {
  points: { startMs: number; devices: number | null }[];
}
interface Popular {
  locations: { cell: string; devices: number }[];
}
interface UserTime {
  locations: { cell: string; timeSpentMs: number }[];
}

/** What the answers are compared with: a {@link GroundTruth}, or one composed of several (test/multi). */
export type Expectation = Pick<
  GroundTruth,
  | 'city'
  | 'expectedBuckets'
  | 'expectedCells'
  | 'expectedOccupancy'
  | 'expectedTopK'
  | 'expectedVisits'
  | 'expectedTimeSpent'
>;

export interface AnswerSource {
  apiUrl: string;
  operatorToken: string;
  truth: Expectation;
  serverIdOf(simId: string): string;
}

async function getJson<T>(source: AnswerSource, path: string): Promise<T> {
  const response = await fetch(`${source.apiUrl}${path}`, {
    headers: { authorization: `Bearer ${source.operatorToken}` },
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`${path} → ${response.status} ${JSON.stringify(body)}`);
  return body as T;
}

function cellsToCheck(truth: Expectation): string[] {
  const cells = new Set<string>();
  for (const place of truth.city.places) for (const c of placeCells(place, 1)) cells.add(c);
  const others = new Set<string>();
  for (const b of truth.expectedBuckets()) for (const { cell } of truth.expectedCells(b)) others.add(cell);
  const sorted = [...others].filter((c) => !cells.has(c)).sort();
  for (let i = 0; i < sorted.length; i += Math.max(1, Math.floor(sorted.length / 100)))
    cells.add(sorted[i] as string);
  return [...cells];
}

/** Every answer that differs from the exact expectation (empty = all equal). */
export async function mismatches(source: AnswerSource): Promise<string[]> {
  const { truth } = source;
  const out: string[] = [];
  const buckets = truth.expectedBuckets();
  const from = buckets[0] as number;
  const to = (buckets.at(-1) as number) + BUCKET_MS;
  for (const cell of cellsToCheck(truth)) {
    const series = await getJson<Series>(
      source,
      `/v1/occupancy/series?cell=${cell}&from=${from}&to=${to}&step=${BUCKET_MS}`,
    );
    const byBucket = new Map(series.points.map((p) => [p.startMs, p.devices ?? 0]));
    for (const b of buckets) {
      const expected = truth.expectedOccupancy(cell, b);
      const got = byBucket.get(b) ?? 0;
      if (got !== expected) out.push(`occupancy ${cell} @${b}: got ${got}, expected ${expected}`);
    }
  }
  for (let i = 0; i < buckets.length; i += 5) {
    const b = buckets[i] as number;
    const fmt = (xs: { cell: string; devices: number }[]) =>
      xs.map((x) => `${x.cell}:${x.devices}`).join(',');
    const got = fmt((await getJson<Popular>(source, `/v1/popular?at=${b}&k=10`)).locations);
    const expected = fmt(truth.expectedTopK(b, 10));
    if (got !== expected) out.push(`top-10 @${b}: got ${got}, expected ${expected}`);
  }
  const cellsByDevice = new Map<string, Set<string>>();
  for (const v of truth.expectedVisits()) {
    const cells = cellsByDevice.get(v.deviceId) ?? new Set<string>();
    cells.add(v.cell);
    cellsByDevice.set(v.deviceId, cells);
  }
  for (const [simId, cells] of cellsByDevice) {
    const answer = await getJson<UserTime>(
      source,
      `/v1/users/${source.serverIdOf(simId)}/time?from=${from}&to=${to}`,
    ).catch((error: Error) => {
      out.push(`time spent ${simId}: ${error.message}`);
      return { locations: [] };
    });
    const got = new Map(answer.locations.map((l) => [l.cell, l.timeSpentMs]));
    for (const cell of new Set([...cells, ...got.keys()])) {
      const expected = truth.expectedTimeSpent(simId, cell, from, to);
      if ((got.get(cell) ?? 0) !== expected)
        out.push(`time spent ${simId} @${cell}: got ${got.get(cell) ?? 0}, expected ${expected}`);
    }
  }
  return out;
}
