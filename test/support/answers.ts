// Final answers of the API against the exact expectation of the ground truth (the definitions of
// docs/insights.md over exactly the accepted pings). One comparison for every whole-pipeline test:
// test/e2e (without faults, and with a processor restart) and test/faults (after each fault).
import { dwellSummary, placeVisits } from '@footfall/domain';
import { type GroundTruth, placeCells } from '@footfall/simulator';
import { waitFor } from '@footfall/testing';

export const BUCKET_MS = 60_000;
/** The processor's and the API's default (docs/insights.md): visits to a place's cells closer than this merge. */
const PRESENCE_MAX_GAP_MS = 600_000;

export interface Series {
  provisionalFromMs: number | null;
  points: {
    startMs: number;
    devices: number | null;
    state: 'provisional' | 'final';
    finalAtMs: number;
    nowcast: unknown;
  }[];
}
/** NOWCAST_HORIZON_MS of the stack (default): buckets are provisional until their end + this. */
const HORIZON_MS = 900_000;

/**
 * The state every series point reports (docs/api.md, "Provisional and final answers"): final once past
 * its end + horizon (with no nowcast), provisional before, and the series marks its provisional tail.
 * `before`/`after` bracket the request (the API's clock is in between).
 */
function stateMismatches(cell: string, series: Series, before: number, after: number): string[] {
  const out: string[] = [];
  for (const p of series.points) {
    const finalAt = p.startMs + BUCKET_MS + HORIZON_MS;
    if (p.finalAtMs !== finalAt)
      out.push(`state ${cell} @${p.startMs}: finalAtMs ${p.finalAtMs} != ${finalAt}`);
    if (finalAt <= before && (p.state !== 'final' || p.nowcast !== null))
      out.push(`state ${cell} @${p.startMs}: ${p.state} after finalAtMs`);
    if (finalAt > after && p.state !== 'provisional')
      out.push(`state ${cell} @${p.startMs}: final too early`);
  }
  const first = series.points.find((p) => p.state === 'provisional');
  if ((first?.startMs ?? null) !== series.provisionalFromMs)
    out.push(`state ${cell}: provisionalFromMs ${series.provisionalFromMs} != ${first?.startMs ?? null}`);
  return out;
}
export interface Popular {
  locations: { cell: string; devices: number }[];
}
export interface UserTime {
  locations: { cell: string; timeSpentMs: number; visits: number }[];
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
> &
  Partial<Pick<GroundTruth, 'expectedPlaceOccupancy'>>;

/** Where the answers come from and what they must equal. */
export interface AnswerSource {
  apiUrl: string;
  operatorToken: string;
  truth: Expectation;
  serverIdOf(simId: string): string;
  /** Registered named places (server id → cells), compared when given (docs/places.md). */
  places?: Map<string, string[]>;
}

interface Dwell {
  visits: number | null;
  medianMs: number | null;
  buckets: { visits: number | null }[];
  visitorsPerHour: (number | null)[];
}

/** GET with the operator token; anything but 200 throws with the path, status and body. */
export async function getJson<T>(
  source: Pick<AnswerSource, 'apiUrl' | 'operatorToken'>,
  path: string,
): Promise<T> {
  const response = await fetch(`${source.apiUrl}${path}`, {
    headers: { authorization: `Bearer ${source.operatorToken}` },
  });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`${path} → ${response.status} ${JSON.stringify(body)}`);
  return body as T;
}

/** Cells to check: every place's cells plus a deterministic sample of about `sample` other cells seen. */
function cellsToCheck(truth: Expectation, sample: number): string[] {
  const cells = new Set<string>();
  for (const place of truth.city.places) for (const c of placeCells(place, 1)) cells.add(c);
  const others = new Set<string>();
  for (const b of truth.expectedBuckets()) for (const { cell } of truth.expectedCells(b)) others.add(cell);
  const sorted = [...others].filter((c) => !cells.has(c)).sort();
  for (let i = 0; i < sorted.length; i += Math.max(1, Math.floor(sorted.length / sample)))
    cells.add(sorted[i] as string);
  return [...cells];
}

export interface CompareOptions {
  /** Cells sampled beyond the places' own (default 100). */
  sampledCells?: number;
  /**
   * The window ends at "now", so its last minutes must still be reported provisional (the live edge).
   * Off for runs checked long after their window ended.
   */
  expectProvisionalTail?: boolean;
}

/** Every answer that differs from the exact expectation (empty = all equal). */
export async function mismatches(source: AnswerSource, options: CompareOptions = {}): Promise<string[]> {
  const { truth } = source;
  const out: string[] = [];
  const buckets = truth.expectedBuckets();
  const from = buckets[0] as number;
  const to = (buckets.at(-1) as number) + BUCKET_MS;
  const at = (b: number) => new Date(b).toISOString();

  // 1. Occupancy: the series at 1-bucket steps = every bucket of the cell.
  let provisionalPoints = 0;
  for (const cell of cellsToCheck(truth, options.sampledCells ?? 100)) {
    const before = Date.now();
    const series = await getJson<Series>(
      source,
      `/v1/occupancy/series?cell=${cell}&from=${from}&to=${to}&step=${BUCKET_MS}`,
    );
    // Final answers must match exactly (below), and every answer must say whether it is final.
    out.push(...stateMismatches(cell, series, before, Date.now()));
    provisionalPoints += series.points.filter((p) => p.state === 'provisional').length;
    const byBucket = new Map(series.points.map((p) => [p.startMs, p.devices ?? 0]));
    for (const b of buckets) {
      const expected = truth.expectedOccupancy(cell, b);
      const got = byBucket.get(b) ?? 0;
      if (got !== expected) out.push(`occupancy ${cell} @${at(b)}: got ${got}, expected ${expected}`);
    }
  }

  if (options.expectProvisionalTail && provisionalPoints === 0)
    out.push('no provisional point reported for the last minutes of the window');

  // 2. Top-10 at every 5th bucket.
  for (let i = 0; i < buckets.length; i += 5) {
    const b = buckets[i] as number;
    const fmt = (xs: { cell: string; devices: number }[]) =>
      xs.map((x) => `${x.cell}:${x.devices}`).join(',');
    const got = fmt((await getJson<Popular>(source, `/v1/popular?at=${b}&k=10`)).locations);
    const expected = fmt(truth.expectedTopK(b, 10));
    if (got !== expected) out.push(`top-10 @${at(b)}: got ${got}, expected ${expected}`);
  }

  // 3. Time spent per user per location over the whole window.
  const cellsByDevice = new Map<string, Set<string>>();
  for (const v of truth.expectedVisits()) {
    const cells = cellsByDevice.get(v.deviceId) ?? new Set<string>();
    cells.add(v.cell);
    cellsByDevice.set(v.deviceId, cells);
  }
  for (const [simId, cells] of cellsByDevice) {
    // Until the sink has caught up, a user may not exist yet (404): a mismatch, not a failure.
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
        out.push(`time spent ${simId} @${cell}: got ${got.get(cell) ?? 0} ms, expected ${expected} ms`);
    }
  }
  // 4. Per-place distinct devices (every bucket) and dwell per day, exactly.
  for (const [placeId, cells] of source.places ?? [])
    out.push(...(await placeMismatches(source, placeId, cells)));
  return out;
}

async function placeMismatches(source: AnswerSource, placeId: string, cells: string[]): Promise<string[]> {
  const { truth } = source;
  const out: string[] = [];
  const buckets = truth.expectedBuckets();
  const from = buckets[0] as number;
  const to = (buckets.at(-1) as number) + BUCKET_MS;
  const series = await getJson<Series>(
    source,
    `/v1/places/${placeId}/occupancy/series?from=${from}&to=${to}&step=${BUCKET_MS}`,
  );
  const byBucket = new Map(series.points.map((p) => [p.startMs, p.devices ?? 0]));
  for (const b of buckets) {
    if (!truth.expectedPlaceOccupancy) throw new Error('places given without a place expectation');
    const expected = truth.expectedPlaceOccupancy(placeId, b);
    if ((byBucket.get(b) ?? 0) !== expected)
      out.push(
        `place ${placeId} @${new Date(b).toISOString()}: got ${byBucket.get(b) ?? 0}, expected ${expected}`,
      );
  }
  const inPlace = new Set(cells);
  const merged = placeVisits(
    truth.expectedVisits().filter((v) => inPlace.has(v.cell)),
    PRESENCE_MAX_GAP_MS,
  );
  const fmt = (d: {
    visits: number | null;
    buckets: (number | null)[];
    medianMs: number | null;
    perHour: (number | null)[];
  }) =>
    JSON.stringify({ ...d, buckets: d.buckets.map((n) => n ?? 0), perHour: d.perHour.map((n) => n ?? 0) });
  for (let day = Math.floor(from / 86_400_000) * 86_400_000; day < to; day += 86_400_000) {
    const date = new Date(day).toISOString().slice(0, 10);
    const expected = dwellSummary(merged, day);
    const got = await getJson<Dwell>(source, `/v1/places/${placeId}/dwell?date=${date}`);
    const a = fmt({
      visits: got.visits ?? 0,
      buckets: got.buckets.map((x) => x.visits),
      medianMs: got.medianMs,
      perHour: got.visitorsPerHour,
    });
    const e = fmt({
      visits: expected.visits,
      buckets: expected.buckets,
      medianMs: expected.medianMs,
      perHour: expected.visitorsPerHour,
    });
    if (a !== e) out.push(`dwell ${placeId} ${date}: got ${a}, expected ${e}`);
  }
  return out;
}

/**
 * Waits until every answer equals the exact expectation (polling the API, the pipeline's own
 * progress); fails with up to 15 mismatches after `timeoutMs`. Resolves with the time it took, ms.
 */
export async function eventuallyExact(
  source: AnswerSource,
  options: CompareOptions & { timeoutMs?: number } = {},
): Promise<number> {
  const started = Date.now();
  let last: string[] = [];
  await waitFor(
    'every answer to equal the exact expectation',
    async () => {
      last = await mismatches(source, options).catch((error: Error) => [error.message]);
      return last.length === 0;
    },
    options.timeoutMs ?? 90_000,
    1_000,
  ).catch(() => {
    throw new Error(
      `${last.length} answers differ from the exact expectation, e.g.:\n${last.slice(0, 15).join('\n')}`,
    );
  });
  return Date.now() - started;
}
