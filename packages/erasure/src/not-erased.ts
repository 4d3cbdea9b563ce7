import { deletedByMs, type TopicRetention } from './retention.ts';

/** One kind of data an erasure leaves behind, and until when (null = indefinitely). */
export interface NotErasedItem {
  data: string;
  reason: string;
  /** When it is gone at the latest, ms since epoch; null when it is kept indefinitely. */
  untilMs: number | null;
}

export interface NotErasedInput {
  erasedAtMs: number;
  ingestion: TopicRetention;
  aggregated: TopicRetention;
  erasuresTopic: string;
  /**
   * How long after the erasure records of the device can still be appended, ms: uploads that reached an
   * ingest instance before it learned of the erasure (sub-second normally; 60 s allowed), and the
   * processor closing a visit that was open when the erasure arrived (it closes when the watermark passes
   * the visit's end + PRESENCE_MAX_GAP_MS: ALLOWED_LATENESS_MS + PRESENCE_MAX_GAP_MS with the defaults).
   */
  ingestionTailMs?: number;
  aggregatedTailMs?: number;
}

/** Default tails (see NotErasedInput), from the services' default configuration. */
export const INGESTION_TAIL_MS = 60_000;
export const AGGREGATED_TAIL_MS = 3_600_000 + 600_000;

const duration = (ms: number) =>
  ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms} ms`;

function retentionWords(r: TopicRetention): string {
  return r.retentionMs === null || !r.cleanupPolicy.includes('delete')
    ? 'kept indefinitely (no time-based retention)'
    : `retention.ms ${duration(r.retentionMs)} + segment.ms ${duration(r.segmentMs)} + the broker's retention check`;
}

/**
 * What an erasure does not remove, from the broker's actual topic settings: the `notErased` of
 * DELETE /v1/users/{id} (docs/privacy.md explains each item).
 */
export function notErasedReport(input: NotErasedInput): NotErasedItem[] {
  const ingestionTail = input.ingestionTailMs ?? INGESTION_TAIL_MS;
  const aggregatedTail = input.aggregatedTailMs ?? AGGREGATED_TAIL_MS;
  return [
    {
      data: `kafka:${input.ingestion.topic}`,
      reason:
        'raw pings of this device (device id, exact position, time) stay on the ingestion topic until ' +
        `retention deletes them (${retentionWords(input.ingestion)}). From the erasure on, ingest refuses ` +
        "the device's uploads and the processor skips its pings, live and when it replays the topic to " +
        'rebuild its state, so they are no longer counted; they remain readable to anyone with read access ' +
        'to the topic until then',
      untilMs: deletedByMs(input.ingestion, input.erasedAtMs + ingestionTail),
    },
    {
      data: `kafka:${input.aggregated.topic}`,
      reason:
        'visit records of this device (device id, cell, times) already on the aggregated topic stay until ' +
        `retention deletes them (${retentionWords(input.aggregated)}); the processor may still close a ` +
        'visit that was open at the erasure. The sink drops every record of an erased device, so none ' +
        'reappears in the database',
      untilMs: deletedByMs(input.aggregated, input.erasedAtMs + aggregatedTail),
    },
    {
      data: 'occupancy',
      reason:
        'occupancy counts are anonymous aggregates (distinct devices per cell and minute); the device is ' +
        'included in past counts without any identifier, so it cannot be removed from them',
      untilMs: null,
    },
    {
      data: 'erasure-record',
      reason:
        `the device id and the erasure time are kept (PostgreSQL erased_devices, compacted Kafka topic ` +
        `${input.erasuresTopic}) so that its uploads stay refused and its records stay dropped`,
      untilMs: null,
    },
    {
      data: 'backups',
      reason:
        'database backups taken before the erasure still hold the visits until they expire under the ' +
        "operator's backup retention (this deployment configures none; see docs/privacy.md)",
      untilMs: null,
    },
  ];
}
