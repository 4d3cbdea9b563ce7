// The exact expectation of a partition-count change with a cut-over at bucket boundary C
// (docs/operations.md): occupancy buckets and visits starting before C are the old generation's (the
// definitions of docs/insights.md over the accepted pings with the old partitioning), those starting at
// or after C the new generation's. Watermarks are per partition, so the two partitionings may classify
// a ping near the lateness edge differently; each output follows the generation that owns it.
import { compareVisits, mergeOverlappingVisits, timeSpentMs } from '@footfall/domain';
import type { ExpectedVisit, GroundTruth } from '@footfall/simulator';

type CellCount = ReturnType<GroundTruth['expectedCells']>[number];

import type { Expectation } from '../support/answers.ts';

export class SplitTruth implements Expectation {
  readonly city: GroundTruth['city'];
  readonly #before: GroundTruth;
  readonly #after: GroundTruth;
  readonly #cutoverMs: number;

  constructor(before: GroundTruth, after: GroundTruth, cutoverMs: number) {
    this.city = before.city;
    this.#before = before;
    this.#after = after;
    this.#cutoverMs = cutoverMs;
  }

  #at(startMs: number): GroundTruth {
    return startMs < this.#cutoverMs ? this.#before : this.#after;
  }

  expectedOccupancy(cell: string, bucketStartMs: number): number {
    return this.#at(bucketStartMs).expectedOccupancy(cell, bucketStartMs);
  }

  expectedCells(bucketStartMs: number): CellCount[] {
    return this.#at(bucketStartMs).expectedCells(bucketStartMs);
  }

  expectedBuckets(): number[] {
    return [
      ...this.#before.expectedBuckets().filter((b) => b < this.#cutoverMs),
      ...this.#after.expectedBuckets().filter((b) => b >= this.#cutoverMs),
    ];
  }

  expectedTopK(bucketStartMs: number, k: number): CellCount[] {
    return this.#at(bucketStartMs).expectedTopK(bucketStartMs, k);
  }

  expectedVisits(deviceId?: string): ExpectedVisit[] {
    return [
      ...this.#before.expectedVisits(deviceId).filter((v) => v.startMs < this.#cutoverMs),
      ...this.#after.expectedVisits(deviceId).filter((v) => v.startMs >= this.#cutoverMs),
    ].sort(compareVisits);
  }

  expectedTimeSpent(
    deviceId: string,
    cell: string | readonly string[],
    fromMs: number,
    toMs: number,
  ): number {
    const cells = new Set(typeof cell === 'string' ? [cell] : cell);
    const visits = mergeOverlappingVisits(this.expectedVisits(deviceId).filter((v) => cells.has(v.cell)));
    return timeSpentMs(visits, fromMs, toMs);
  }
}
