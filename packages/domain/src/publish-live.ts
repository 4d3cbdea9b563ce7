// The one k-anonymity rule for provisional answers (docs/insights.md, "Live edge: privacy"). Every number
// of a provisional answer is derived from the observed count (estimate = f × observed, bounds = estimate
// ± a function of it), so publishing any of them for a small observed count would let a reader divide by
// the region's factor (readable from other cells) and recover it. Hence:
//  - nothing is published unless the observed count AND the estimate are both ≥ k;
//  - the confirmed count (pings already arrived) is published only if itself ≥ k;
//  - a lower bound below k is published as null ("the interval reaches below k"), never as a small number.

/** Stored provisional value of one (cell, bucket), raw (not k-anonymised). */
export interface LiveOccupancyRaw {
  observed: number;
  confirmed: number;
  estimate: number;
  lower: number;
  upper: number;
  completeness: number;
}

/** The publishable numbers; all null (suppressed) when the cell is below k. */
export interface PublishedLiveOccupancy {
  suppressed: boolean;
  observed: number | null;
  confirmed: number | null;
  estimate: number | null;
  lower: number | null;
  upper: number | null;
  completeness: number;
}

export function publishLiveOccupancy(raw: LiveOccupancyRaw, k: number): PublishedLiveOccupancy {
  if (!(raw.observed >= k && raw.estimate >= k)) {
    return {
      suppressed: true,
      observed: null,
      confirmed: null,
      estimate: null,
      lower: null,
      upper: null,
      completeness: raw.completeness,
    };
  }
  return {
    suppressed: false,
    observed: raw.observed,
    confirmed: raw.confirmed >= k ? raw.confirmed : null,
    estimate: raw.estimate,
    lower: raw.lower >= k ? raw.lower : null,
    upper: raw.upper,
    completeness: raw.completeness,
  };
}
