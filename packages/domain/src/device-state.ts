// Per-device aggregation state in a compact layout: the folded base stay, the window of pings within
// lateness with their derivation, the ping-id keys (dedup and order) and the open visits emitted so far.
// The window is one `number[]` of doubles (V8 stores it unboxed: 8 B per field, one backing store per
// device, nothing for the garbage collector to trace), WINDOW_STRIDE fields per ping: 56 B a ping,
// against ~100 B plus a ping-id string before (docs/processor.md, "State layout").

/** Fields per window ping in {@link DeviceState.w}. */
export const WINDOW_STRIDE = 7;
/** Event time (ms). */
export const F_T = 0;
/** Start time of the stay the ping belongs to. */
export const F_START = 1;
/** The ping's cell number and its stay's anchor cell number: cell · 2²⁶ + anchor ({@link cellOf}). */
export const F_CELLS = 2;
/** Pings of the stay up to and including this one; 1 = the ping starts a new stay. */
export const F_COUNT = 3;
/** The ping id's key, ID_KEY_FIELDS fields (ping-id-key.ts): dedup and the order of equal event times. */
export const F_ID = 4;
/** Fields per inaccurate ping in {@link DeviceState.inacc}: event time, then the id key. */
export const INACC_STRIDE = 4;
/** No cell (no base stay). */
export const NO_CELL = -1;
/** Cell numbers are below this (cell-table.ts), so a cell and an anchor share one double exactly. */
export const CELL_LIMIT = 2 ** 26;

/** The ping's own cell number of a packed F_CELLS value. */
export function cellOf(packed: number): number {
  return Math.floor(packed / CELL_LIMIT);
}

/** The anchor cell number of a packed F_CELLS value. */
export function anchorOf(packed: number): number {
  return packed % CELL_LIMIT;
}

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
  readonly inacc: number[] = [];
  /** Ids that have no compact key (ping-id-key.ts), by their hash; null while there are none. */
  longIds: Map<number, string> | null = null;
  /** Open visits emitted so far (usually 0–2; searched linearly by cell and startMs). */
  emitted: EmittedVisit[] = [];
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
