// Was a failed Kafka send written or not? The answer decides what ingest tells the client
// (docs/ingest.md "Outcome of an upload"): INGEST_KAFKA_UNAVAILABLE promises "none of these pings was
// written", INGEST_OUTCOME_UNKNOWN says "maybe; retry with the same ping ids". Getting the first wrong
// breaks "every accepted ping is in Kafka, or the client was told it failed, never both", so anything
// this module cannot prove unwritten is unknown.
//
// What @platformatic/kafka (2.x) does on a send, read from its producer source: the idempotent producer
// stamps each partition's records with a sequence number once, and its own retries (`retries`,
// `retryDelay`) resend the same records with the same sequence, so the broker keeps one copy even
// when an earlier attempt was written and only its answer was lost (that state survives a broker
// restart too). When the send fails for good, the client drops its producer id and sequences: the next
// send, and so any retry by ingest or the device, gets a new producer id, which the broker cannot match
// against the earlier write. Kafka's idempotence therefore covers retries inside one send only; across
// a failed send only the ping ids (deduplicated by the processor) make a retry harmless.
//
// Known blind spot: when a send's own retries end in UNKNOWN_PRODUCER_ID or OUT_OF_ORDER_SEQUENCE_NUMBER,
// the client re-initialises the producer and sends once more, and only that last attempt's error is
// reported; an ambiguous attempt before it is not visible here. Both errors mean the broker lost or
// reordered producer state, which a single broker killed mid-write does not cause (docs/operations.md).

/** Produce errors the broker may return after it appended the records (acks=all timed out waiting for replicas, …). */
const AFTER_APPEND = new Set([
  'REQUEST_TIMED_OUT',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  'NETWORK_EXCEPTION',
  'UNKNOWN_SERVER_ERROR',
]);

/**
 * Client errors raised before a request reaches a broker: no connection (refused, connect timeout),
 * no broker for the partition in metadata, client closed. Matched by message because the library
 * uses one class (NetworkError) for these and for "Connection closed" with a request in flight, which
 * is exactly the ambiguous case. A message this list does not know counts as unknown (safe side).
 */
const BEFORE_REQUEST = [
  /^Connection to \S+ (failed|timed out)\.$/,
  /^Connection closed while waiting for ready\.$/,
  /^Connection ready timed out/,
  /^Connection pool is closed\.$/,
  /^Cannot get a connection: the broker is not available/,
  /^Client is closed\.$/,
];

interface KafkaErrorShape {
  code?: unknown;
  message?: unknown;
  apiId?: unknown;
  errors?: unknown;
  produced?: { offsets?: unknown[] };
  response?: { responses?: { partitionResponses?: { errorCode?: number }[] }[] };
}

/**
 * True only when `error` (what `Producer.send` rejected with) proves that no record of the send was
 * written: every attempt failed before its request reached a broker, or the broker refused every
 * partition with an error that it returns before appending. False (outcome unknown) otherwise.
 */
export function notWritten(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as KafkaErrorShape;
  // Some destinations answered (a send to several leaders): their records are written.
  if (Array.isArray(e.produced?.offsets) && e.produced.offsets.length > 0) return false;
  const partitions = e.response?.responses?.flatMap((r) => r.partitionResponses ?? []);
  // A produce answer with an error on some partitions only: the others were appended.
  if (partitions?.some((p) => p.errorCode === 0)) return false;
  if (Array.isArray(e.errors)) return e.errors.length > 0 && e.errors.every(notWritten);
  switch (e.code) {
    case 'PLT_KFK_USER':
      return true; // refused by the client itself (serialisation, validation)
    case 'PLT_KFK_PROTOCOL':
      return typeof e.apiId === 'string' && !AFTER_APPEND.has(e.apiId);
    case 'PLT_KFK_NETWORK':
      return typeof e.message === 'string' && BEFORE_REQUEST.some((re) => re.test(e.message as string));
    default:
      return false;
  }
}
