// Per-device aggregation state: the folded base stay, the window of pings within lateness with their
// derivation (anchor, stay start, count), the dedup index and the open visits emitted so far.

export interface EmittedVisit {
  cell: string;
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
  bAnchor: string | null = null;
  bStart = 0;
  bLastT = 0;
  bPings = 0;
  // Window: accepted pings with event time >= watermark, sorted by (t, id), and their derivation.
  readonly ts: number[] = [];
  readonly ids: string[] = [];
  readonly cells: string[] = [];
  /** Attributed (anchor) cell of each ping. */
  readonly anchors: string[] = [];
  /** Start time of the stay each ping belongs to. */
  readonly starts: number[] = [];
  /** Pings of the stay up to and including this one; 1 = the ping starts a new stay. */
  readonly counts: number[] = [];
  /**
   * Dedup ids (= `ids` ∪ `inaccIds`) as a Set once the device holds more than {@link DEDUP_SET_MIN}
   * of them; below that a linear scan of the two arrays is as fast and saves a Set per device.
   */
  dedup: Set<string> | null = null;
  // Inaccurate pings within lateness (only for dedup).
  readonly inaccT: number[] = [];
  readonly inaccIds: string[] = [];
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
}
