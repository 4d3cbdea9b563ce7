/** One erasure: the device id (the record key) and when its erasure was committed in PostgreSQL. */
export interface Erasure {
  deviceId: string;
  erasedAtMs: number;
}

/**
 * Value format v1: JSON `{"v":1,"erasedAtMs":<ms>}`. JSON, not protobuf: the log is tiny, read by
 * operators with kafka-console-consumer, and carries no schema evolution pressure. The `v` field lets a
 * later format coexist on the same compacted topic.
 */
export function encodeErasure(erasure: Erasure): { key: Buffer; value: Buffer } {
  return {
    key: Buffer.from(erasure.deviceId, 'utf8'),
    value: Buffer.from(JSON.stringify({ v: 1, erasedAtMs: erasure.erasedAtMs }), 'utf8'),
  };
}

/**
 * Decodes a record of the erasure log; undefined for a record that is not a v1 erasure (logged and
 * skipped by the reader: an unreadable erasure must not stop the others from being enforced).
 */
export function decodeErasure(
  key: Uint8Array | null | undefined,
  value: Uint8Array | null | undefined,
): Erasure | undefined {
  if (!key || key.length === 0 || !value) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  const { v, erasedAtMs } = (parsed ?? {}) as { v?: unknown; erasedAtMs?: unknown };
  if (v !== 1 || typeof erasedAtMs !== 'number' || !Number.isSafeInteger(erasedAtMs)) return undefined;
  return { deviceId: Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8'), erasedAtMs };
}
