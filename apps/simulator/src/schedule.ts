import type { City, Place, PlaceKind, StadiumEvent } from './city.ts';
import { distanceM, type LatLon, offsetM } from './geo.ts';
import type { Rng } from './random.ts';

/** How a device moves between places. */
export type TravelMode = 'walk' | 'drive' | 'train';

/** The device stands still at a spot inside a place over `[startMs, endMs]`. */
export interface StaySegment {
  readonly kind: 'stay';
  readonly placeId: string;
  readonly lat: number;
  readonly lon: number;
  readonly startMs: number;
  readonly endMs: number;
}

/** The device moves in a straight line at constant speed over `[startMs, endMs]`. */
export interface MoveSegment {
  readonly kind: 'move';
  readonly mode: TravelMode;
  readonly from: LatLon;
  readonly to: LatLon;
  readonly startMs: number;
  readonly endMs: number;
  readonly speedMps: number;
}

export type Segment = StaySegment | MoveSegment;

/** Who a device is: where it lives and works, how it travels, whether it goes to the event. */
export interface Profile {
  readonly persona: 'commuter' | 'leisure';
  readonly home: Place;
  readonly office: Place | null;
  readonly cafes: readonly Place[];
  readonly hasCar: boolean;
  readonly attendsEvent: boolean;
}

/** Travel and stay parameters (see docs/simulator.md). */
export interface ScheduleOptions {
  /** Walking speed, m/s (default 1.4; each device varies ±15%). */
  walkSpeedMps: number;
  /** Driving speed, m/s (default 10). */
  driveSpeedMps: number;
  /** Train speed between stations, m/s (default 12). */
  trainSpeedMps: number;
  /** Trips shorter than this (m) are walked (default 1200). */
  walkMaxM: number;
  /** Fraction of devices with a car (default 0.35); the others take the train for long trips. */
  carFraction: number;
  /** Fraction of commuters (default 0.65); the others are "leisure" (cafés, parks). */
  commuterFraction: number;
  /** Fraction of devices that attend the stadium event, if there is one (default 0.15). */
  eventFraction: number;
  /** Stay durations per kind, minutes [min, max] (free time; home, office and lunch follow the routine). */
  stayMinutes: Readonly<Record<PlaceKind, readonly [number, number]>>;
  /**
   * Local time of the routines = UTC + this, ms (default 0: Lisbon in winter, and the UTC hours of
   * popular times). A test pins the hour and weekday a run sees with it, whatever the wall clock.
   */
  localOffsetMs: number;
  /**
   * Follow the weekly routine (default true). false: every stay lasts `stayMinutes` of its kind and the
   * next place is drawn whatever the hour (tests that need every stay short, e.g. test/multi).
   */
  routine: boolean;
}

export const DEFAULT_SCHEDULE_OPTIONS: ScheduleOptions = Object.freeze({
  walkSpeedMps: 1.4,
  driveSpeedMps: 10,
  trainSpeedMps: 12,
  walkMaxM: 1200,
  carFraction: 0.35,
  commuterFraction: 0.65,
  eventFraction: 0.15,
  stayMinutes: Object.freeze({
    home: [60, 360],
    office: [60, 240],
    cafe: [10, 45],
    park: [15, 75],
    stadium: [30, 90],
    station: [2, 8],
    mall: [45, 150],
    market: [20, 75],
  }),
  localOffsetMs: 0,
  routine: true,
} as ScheduleOptions);

const MIN = 60_000;

/** Draws a device's profile (home by popularity, office, two favourite cafés, car, event). */
export function drawProfile(city: City, rng: Rng, o: ScheduleOptions, hasEvent: boolean): Profile {
  const byPop = (p: Place) => p.popularity;
  const persona = rng.chance(o.commuterFraction) ? 'commuter' : 'leisure';
  const cafes =
    city.byKind.cafe.length > 0
      ? [rng.weighted(city.byKind.cafe, byPop), rng.weighted(city.byKind.cafe, byPop)]
      : [];
  return {
    persona,
    home: rng.weighted(city.byKind.home, byPop),
    office:
      persona === 'commuter' && city.byKind.office.length > 0
        ? rng.weighted(city.byKind.office, byPop)
        : null,
    cafes,
    hasCar: rng.chance(o.carFraction),
    attendsEvent: hasEvent && rng.chance(o.eventFraction),
  };
}

/** A uniformly random standing spot inside a place. */
export function spotIn(place: Place, rng: Rng): LatLon {
  const r = place.radiusM * Math.sqrt(rng.next());
  const a = rng.uniform(0, 2 * Math.PI);
  return offsetM(place, Math.cos(a) * r, Math.sin(a) * r);
}

interface Leg {
  kind: 'stay' | 'move';
  mode?: TravelMode;
  placeId?: string;
  from: LatLon;
  to: LatLon;
  durationMs: number;
  speedMps: number;
}

function nearest(places: readonly Place[], p: LatLon): Place | undefined {
  let best: Place | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const q of places) {
    const d = distanceM(q, p);
    if (d < bestD) {
      bestD = d;
      best = q;
    }
  }
  return best;
}

/**
 * Plans a trip from `from` to the spot `to` (inside `dest`): walk if short, drive if the device has a
 * car, else walk → station (wait) → train → station → walk. Durations only; times are assigned later.
 */
function planTrip(
  city: City,
  from: LatLon,
  to: LatLon,
  walkMps: number,
  profile: Profile,
  o: ScheduleOptions,
  rng: Rng,
): Leg[] {
  const d = distanceM(from, to);
  const walk = (a: LatLon, b: LatLon): Leg => ({
    kind: 'move',
    mode: 'walk',
    from: a,
    to: b,
    durationMs: (distanceM(a, b) / walkMps) * 1000,
    speedMps: walkMps,
  });
  if (d <= o.walkMaxM) return [walk(from, to)];
  if (profile.hasCar) {
    return [
      {
        kind: 'move',
        mode: 'drive',
        from,
        to,
        durationMs: (d / o.driveSpeedMps) * 1000,
        speedMps: o.driveSpeedMps,
      },
    ];
  }
  const sa = nearest(city.byKind.station, from);
  const sb = nearest(city.byKind.station, to);
  if (sa === undefined || sb === undefined || sa === sb) return [walk(from, to)];
  const pa = spotIn(sa, rng);
  const pb = spotIn(sb, rng);
  const [w0, w1] = o.stayMinutes.station;
  const train = distanceM(pa, pb);
  return [
    walk(from, pa),
    { kind: 'stay', placeId: sa.id, from: pa, to: pa, durationMs: rng.uniform(w0, w1) * MIN, speedMps: 0 },
    {
      kind: 'move',
      mode: 'train',
      from: pa,
      to: pb,
      durationMs: (train / o.trainSpeedMps) * 1000,
      speedMps: o.trainSpeedMps,
    },
    { kind: 'stay', placeId: sb.id, from: pb, to: pb, durationMs: rng.uniform(0.5, 2) * MIN, speedMps: 0 },
    walk(pb, to),
  ];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Local clock of the routines at `tMs`: hour of the day (fractional), weekend, start of the local day (UTC ms). */
interface Clock {
  hour: number;
  weekend: boolean;
  dayStartMs: number;
}

/** 1970-01-01 was a Thursday: with Monday = 0 (as popular times count), day n is weekday (n + 3) mod 7. */
export function localClock(tMs: number, localOffsetMs: number): Clock {
  const local = tMs + localOffsetMs;
  const day = Math.floor(local / DAY);
  return {
    hour: (local - day * DAY) / HOUR,
    weekend: (day + 3) % 7 >= 5,
    dayStartMs: day * DAY - localOffsetMs,
  };
}

/** When a device gets up on the day starting at `dayStartMs` (weekends later, commuters earlier). */
function wakeAt(profile: Profile, dayStartMs: number, o: ScheduleOptions, rng: Rng): number {
  const weekend = localClock(dayStartMs + HOUR, o.localOffsetMs).weekend;
  const [h0, h1] = weekend ? [8.5, 11.5] : profile.office ? [6.5, 8.5] : [8, 10.5];
  return dayStartMs + rng.uniform(h0, h1) * HOUR;
}

type Weights = readonly { kind: PlaceKind; w: number }[];

/** Without the routine: any place of the day, whatever the hour. */
const ANYTIME: Weights = [
  { kind: 'office', w: 0.3 },
  { kind: 'cafe', w: 0.25 },
  { kind: 'park', w: 0.1 },
  { kind: 'mall', w: 0.05 },
  { kind: 'market', w: 0.05 },
  { kind: 'home', w: 0.25 },
];

const LUNCH: Weights = [
  { kind: 'cafe', w: 0.6 },
  { kind: 'market', w: 0.2 },
  { kind: 'mall', w: 0.2 },
];

/**
 * Where to go next at `tMs` (the end of the current stay) by the weekly routine: to the office on a
 * weekday morning (commuters), errands and cafés in the day, parks, the market (mornings) and the mall
 * at weekends, home in the evening. Offices are empty at weekends.
 */
function routineKinds(profile: Profile, c: Clock): Weights {
  if (c.hour >= 20.5 || c.hour < 6) return [{ kind: 'home', w: 1 }];
  if (c.weekend) {
    const late = c.hour >= 18;
    return [
      { kind: 'park', w: 0.3 },
      { kind: 'mall', w: 0.25 },
      { kind: 'market', w: c.hour < 14 ? 0.25 : 0.02 },
      { kind: 'cafe', w: 0.15 },
      { kind: 'home', w: late ? 0.5 : 0.1 },
    ];
  }
  if (profile.office && c.hour < 16) return [{ kind: 'office', w: 1 }];
  if (profile.office)
    return [
      { kind: 'home', w: c.hour >= 19 ? 0.8 : 0.5 },
      { kind: 'cafe', w: 0.2 },
      { kind: 'mall', w: 0.15 },
      { kind: 'park', w: 0.1 },
      { kind: 'market', w: 0.05 },
    ];
  return [
    { kind: 'cafe', w: 0.35 },
    { kind: 'park', w: 0.25 },
    { kind: 'mall', w: 0.15 },
    { kind: 'market', w: c.hour < 14 ? 0.15 : 0.03 },
    { kind: 'home', w: c.hour >= 18 ? 0.4 : 0.1 },
  ];
}

function pickPlace(city: City, profile: Profile, kinds: Weights, current: Place, rng: Rng): Place {
  for (let attempt = 0; attempt < 8; attempt++) {
    const kind = rng.weighted(kinds, (x) => x.w).kind;
    let p: Place | undefined;
    if (kind === 'home') p = profile.home;
    else if (kind === 'office') p = profile.office ?? undefined;
    else if (kind === 'cafe' && profile.cafes.length > 0 && rng.chance(0.7)) p = rng.pick(profile.cafes);
    else if (city.byKind[kind].length > 0) p = rng.weighted(city.byKind[kind], (x) => x.popularity);
    if (p !== undefined && p.id !== current.id) return p;
  }
  return current.id === profile.home.id ? (profile.cafes[0] ?? profile.home) : profile.home;
}

/**
 * The routine's next step from a stay at `place` that began at `tMs`: when the stay ends and where the
 * device goes then. Home: until the morning (or a daytime break); office: until lunch, then until
 * 17–19 h; lunch (commuters, weekdays): 30–60 min, back to the office; elsewhere: `stayMinutes`.
 */
function nextStop(
  city: City,
  profile: Profile,
  place: Place,
  tMs: number,
  o: ScheduleOptions,
  rng: Rng,
): { endMs: number; dest: Place } {
  const c = localClock(tMs, o.localOffsetMs);
  const at = (h: number) => c.dayStartMs + h * HOUR;
  let endMs: number;
  if (!o.routine) {
    const [s0, s1] = o.stayMinutes[place.kind];
    return { endMs: tMs + rng.uniform(s0, s1) * MIN, dest: pickPlace(city, profile, ANYTIME, place, rng) };
  }
  if (place.kind === 'home') {
    const wake = wakeAt(profile, c.dayStartMs, o, rng);
    const bedtime = at(rng.uniform(21.5, 23.5));
    if (tMs < wake) endMs = wake;
    else if (tMs >= bedtime) endMs = wakeAt(profile, c.dayStartMs + DAY, o, rng);
    else {
      endMs = tMs + rng.uniform(30, 150) * MIN;
      if (endMs > bedtime) endMs = wakeAt(profile, c.dayStartMs + DAY, o, rng);
    }
  } else if (place.kind === 'office' && !c.weekend && c.hour < 11.5) {
    endMs = Math.max(tMs + 30 * MIN, at(rng.uniform(12, 13)));
    return { endMs, dest: pickPlace(city, profile, LUNCH, place, rng) };
  } else if (place.kind === 'office' && !c.weekend && c.hour < 16.5) {
    endMs = Math.max(tMs + 30 * MIN, at(rng.uniform(17, 19)));
  } else if (place.kind === 'office') {
    endMs = tMs + rng.uniform(10, 60) * MIN;
  } else if (profile.office && !c.weekend && c.hour >= 11.5 && c.hour < 14.5) {
    endMs = tMs + rng.uniform(30, 60) * MIN;
    return { endMs, dest: profile.office };
  } else {
    const [s0, s1] = o.stayMinutes[place.kind];
    endMs = tMs + rng.uniform(s0, s1) * MIN;
  }
  const kinds = routineKinds(profile, localClock(endMs, o.localOffsetMs));
  return { endMs, dest: pickPlace(city, profile, kinds, place, rng) };
}

/**
 * Builds a device's itinerary covering `[fromMs, toMs]`: contiguous stay and move segments following the
 * weekly routine ({@link nextStop}), starting at home at local midnight the day before `fromMs` (so the
 * window opens mid-routine, the same way whatever its length). Event attendees leave in time to reach
 * the stadium 0–30 min before the event starts and stay until 0–15 min after it ends.
 */
export function buildItinerary(
  city: City,
  profile: Profile,
  rng: Rng,
  o: ScheduleOptions,
  fromMs: number,
  toMs: number,
  event: StadiumEvent | null,
): Segment[] {
  const walkMps = o.walkSpeedMps * rng.uniform(0.85, 1.15);
  const segs: Segment[] = [];
  const stadium = event ? city.byId.get(event.placeId) : undefined;
  let attended = !(profile.attendsEvent && stadium !== undefined && event !== null);
  const arriveEarlyMs = rng.uniform(0, 30) * MIN;

  let place = profile.home;
  let spot = spotIn(place, rng);
  let t = localClock(fromMs, o.localOffsetMs).dayStartMs - DAY;

  while (t < toMs) {
    let dest: Place;
    const next = nextStop(city, profile, place, t, o, rng);
    let end = next.endMs;
    if (place === stadium && event !== null && !attended) {
      end = Math.max(t, event.endMs) + rng.uniform(0, 15) * MIN;
      attended = true;
    }
    let destSpot: LatLon;
    let legs: Leg[];
    if (!attended && stadium !== undefined && event !== null) {
      const sSpot = spotIn(stadium, rng);
      const sLegs = planTrip(city, spot, sSpot, walkMps, profile, o, rng);
      const travel = sLegs.reduce((acc, l) => acc + l.durationMs, 0);
      const departBy = event.startMs - arriveEarlyMs - travel;
      if (departBy < end) {
        end = Math.max(t, departBy);
        dest = stadium;
        destSpot = sSpot;
        legs = sLegs;
      } else {
        dest = next.dest;
        destSpot = spotIn(dest, rng);
        legs = planTrip(city, spot, destSpot, walkMps, profile, o, rng);
      }
    } else {
      dest = next.dest;
      destSpot = spotIn(dest, rng);
      legs = planTrip(city, spot, destSpot, walkMps, profile, o, rng);
    }
    if (end > t)
      segs.push({ kind: 'stay', placeId: place.id, lat: spot.lat, lon: spot.lon, startMs: t, endMs: end });
    t = end;
    for (const leg of legs) {
      const e = t + leg.durationMs;
      if (leg.kind === 'stay') {
        segs.push({
          kind: 'stay',
          placeId: leg.placeId as string,
          lat: leg.from.lat,
          lon: leg.from.lon,
          startMs: t,
          endMs: e,
        });
      } else {
        segs.push({
          kind: 'move',
          mode: leg.mode as TravelMode,
          from: leg.from,
          to: leg.to,
          startMs: t,
          endMs: e,
          speedMps: leg.speedMps,
        });
      }
      t = e;
    }
    place = dest;
    spot = destSpot;
  }
  return segs;
}

/** Where the device truly is at `tMs` (walks `segs` from index `hint`; returns the segment index used). */
export interface TruePosition {
  lat: number;
  lon: number;
  moving: boolean;
  placeId: string | null;
  speedMps: number;
  segment: number;
}

export function positionAt(segs: readonly Segment[], tMs: number, hint = 0): TruePosition {
  let i = Math.max(0, Math.min(hint, segs.length - 1));
  while (i < segs.length - 1 && (segs[i] as Segment).endMs < tMs) i++;
  while (i > 0 && (segs[i] as Segment).startMs > tMs) i--;
  const s = segs[i];
  if (s === undefined) throw new RangeError('empty itinerary');
  if (s.kind === 'stay')
    return { lat: s.lat, lon: s.lon, moving: false, placeId: s.placeId, speedMps: 0, segment: i };
  const span = s.endMs - s.startMs;
  const f = span > 0 ? Math.min(1, Math.max(0, (tMs - s.startMs) / span)) : 1;
  return {
    lat: s.from.lat + (s.to.lat - s.from.lat) * f,
    lon: s.from.lon + (s.to.lon - s.from.lon) * f,
    moving: true,
    placeId: null,
    speedMps: s.speedMps,
    segment: i,
  };
}

/**
 * The `localOffsetMs` that makes `startMs` fall on `weekday` (0 = Monday) at `hour` local time: tests
 * pin a lively weekday afternoon with it, so what a run sees does not depend on when it runs.
 */
export function localOffsetFor(startMs: number, weekday = 2, hour = 16.5): number {
  const week = 7 * DAY;
  // 1970-01-05 was a Monday.
  const target = 4 * DAY + weekday * DAY + hour * HOUR;
  return ((((target - startMs) % week) + week) % week) as number;
}
