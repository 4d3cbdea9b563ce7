// Per-device aggregation state in a compact layout: the folded base stay, the window of pings within
// lateness with their derivation, the ping-id keys (dedup and order) and the open visits emitted so far.
// The window is one `number[]` of doubles (V8 stores it unboxed: 8 B per field, one backing store per
// device, nothing for the garbage collector to trace), WINDOW_STRIDE fields per ping: 40 B a ping,
// against ~100 B plus a ping-id string before (docs/processor.md, "State layout").

/** Fields per window ping in {@link DeviceState.w}. */
export const WINDOW_STRIDE = 5;
/** Event time (ms). */
export const F_T = 0;
/** The ping's cell number and its stay's ping count so far: cell · 2²⁷ + count ({@link cellOf}, {@link countOf}). */
export const F_CELL_COUNT = 1;
/** The ping id's key, ID_KEY_FIELDS fields (ping-id-key.ts): dedup and the order of equal event times. */
export const F_ID = 2;
/** Fields per inaccurate ping in {@link DeviceState.inacc}: event time, then the id key. */
export const INACC_STRIDE = 4;
/** No cell (no base stay). */
export const NO_CELL = -1;
/** Cell numbers are below this (cell-table.ts). */
export const CELL_LIMIT = 2 ** 26;
/** Pings per stay are below this (2²⁷: over 4 years at one ping a second), so cell and count share a double. */
export const COUNT_LIMIT = 2 ** 27;

/** The ping's cell number of a packed F_CELL_COUNT value. */
export function cellOf(packed: number): number {
  return Math.floor(packed / COUNT_LIMIT);
}

/**
 * Pings of the stay up to and including this one (1 = the ping starts a new stay), of a packed
 * F_CELL_COUNT value.
 */
export function countOf(packed: number): number {
  return packed % COUNT_LIMIT;
}

/** Packs a cell number and a stay count into one exact double. */
export function cellCount(cell: number, count: number): number {
  if (count >= COUNT_LIMIT) throw new RangeError(`a stay of more than ${COUNT_LIMIT} pings`);
  return cell * COUNT_LIMIT + count;
}

// A stay's anchor cell and start are not stored per ping: they are those of the stay's first ping,
// which is `count − 1` pings earlier in the window, or, when the stay began before the window, the
// base stay's (the fold keeps the base equal to the derivation after the last folded ping).

/** Anchor (attributed) cell number of window ping j's stay. */
export function anchorAt(dev: DeviceState, j: number): number {
  const w = dev.w;
  const f = j + 1 - countOf(w[j * WINDOW_STRIDE + F_CELL_COUNT] as number);
  return f >= 0 ? cellOf(w[f * WINDOW_STRIDE + F_CELL_COUNT] as number) : dev.bAnchor;
}

/** Start time of window ping j's stay. */
export function startAt(dev: DeviceState, j: number): number {
  const w = dev.w;
  const f = j + 1 - countOf(w[j * WINDOW_STRIDE + F_CELL_COUNT] as number);
  return f >= 0 ? (w[f * WINDOW_STRIDE + F_T] as number) : dev.bStart;
}

/** Pings of window ping j's stay up to and including it. */
export function countAt(dev: DeviceState, j: number): number {
  return countOf(dev.w[j * WINDOW_STRIDE + F_CELL_COUNT] as number);
}

/**
 * The shared empty `inacc` / `emitted` of devices that have none (most): saves two arrays per device.
 * Frozen, so a push that forgot to replace it throws instead of leaking into every device.
 */
export const NONE: never[] = Object.freeze([]) as unknown as never[];

export interface EmittedVisit {
  cell: number;
  startMs: number;
  endMs: number;
  pings: number;
  /** Collect pass in which the stay was last seen (retraction check). */
  seen: number;
}

export class DeviceState {
  readonly id: string;
  readonly num: number;
  // Base: derivation state after the last folded ping (all folded pings have event time < watermark).
  bAnchor = NO_CELL;
  bStart = 0;
  bLastT = 0;
  bPings = 0;
  /** Window: accepted pings with event time >= watermark, sorted by (t, ping id), stride WINDOW_STRIDE. */
  readonly w: number[] = [];
  /** Inaccurate pings within lateness (only for dedup), stride INACC_STRIDE. */
  inacc: number[] = NONE;
  /** Ids that have no compact key (ping-id-key.ts), by their hash; null while there are none. */
  longIds: Map<number, string> | null = null;
  /**
   * Named places only (place-runs.ts): the device's presence in cells that belong to a place, as runs of
   * consecutive buckets, 3 fields each (cell number, first and last bucket index); NONE while none.
   */
  placeRuns: number[] = NONE;
  /** Open visits emitted so far (usually 0–2; searched linearly by cell and startMs). */
  emitted: EmittedVisit[] = NONE;
  /** Smallest window index whose derivation changed since the last collect (Infinity = clean). */
  dirtyFrom = Number.POSITIVE_INFINITY;
  /** An out-of-order insert happened: stays may have been retracted. */
  rederived = false;
  constructor(id: string, num: number) {
    this.id = id;
    this.num = num;
  }

  /** Window pings held. */
  get size(): number {
    return this.w.length / WINDOW_STRIDE;
  }
}
