/**
 * Idleness (Flink's `withIdleness`): a partition that receives nothing would never advance its
 * watermark, so its open visits never close and its buckets never finalise. After `idleTimeoutMs` of
 * silence, event time is assumed to advance at the rate of the clock that stamps the input records
 * (their Kafka timestamps), from the last event time seen.
 *
 * The rule is a function of the log and of one clock reading, not of when the processor happened to
 * look: `nowMs` is the wall clock while the partition is idle, and the Kafka timestamp of the next
 * record when one arrives (live or on replay). A rebuild by replay therefore re-applies the advances
 * that a gap in the log implies (see docs/processor.md, "Idle partitions").
 *
 * Trade-off: a ping arriving after an idle advance with an event time below the advanced watermark is
 * late (dropped and counted), although it would have been accepted had the partition not been idle.
 *
 * @param maxEventMs largest event time accepted so far in the partition (-Infinity: none)
 * @param lastRecordMs largest Kafka record timestamp seen in the partition (-Infinity: none)
 * @param nowMs the clock reading: wall clock, or the next record's Kafka timestamp
 * @param idleTimeoutMs silence after which the partition counts as idle; 0 disables idleness
 * @param allowedLatenessMs watermark lag behind the (extrapolated) max event time
 * @returns the idle watermark, or -Infinity when the partition is not idle (nothing to advance)
 */
export function idleWatermarkMs(
  maxEventMs: number,
  lastRecordMs: number,
  nowMs: number,
  idleTimeoutMs: number,
  allowedLatenessMs: number,
): number {
  if (idleTimeoutMs <= 0 || !Number.isFinite(maxEventMs) || !Number.isFinite(lastRecordMs)) {
    return Number.NEGATIVE_INFINITY;
  }
  const silentMs = nowMs - lastRecordMs;
  if (!(silentMs >= idleTimeoutMs)) return Number.NEGATIVE_INFINITY;
  return maxEventMs + silentMs - allowedLatenessMs;
}
