import type { Ping } from '@footfall/contracts';

/** One ping refused by the ingest service (index into the uploaded batch). */
export interface RejectedPingInfo {
  index: number;
  pingId: string;
  reason: number | string;
  message?: string;
}

/** Outcome of one upload: how many pings were accepted, which were refused. */
export interface UploadOutcome {
  accepted: number;
  rejected: readonly RejectedPingInfo[];
}

/**
 * Where simulated phones send their batches. `deviceId` is the simulator's id (the install id): an
 * uploader that talks to the real service enrolls it and maps it to the server-issued id.
 */
export interface PingUploader {
  upload(deviceId: string, pings: readonly Ping[], signal?: AbortSignal): Promise<UploadOutcome>;
  /** Server-issued device id of a simulator device, when the uploader enrolls devices. */
  deviceIdOf?(simDeviceId: string): string | undefined;
  close?(): Promise<void> | void;
}

/** A batch as an {@link InMemoryUploader} recorded it. */
export interface RecordedUpload {
  deviceId: string;
  pings: readonly Ping[];
  outcome: UploadOutcome;
}

/**
 * Test double: accepts every ping (or applies `reject`) and records the batches in call order.
 * `record: false` only counts (for speed measurements).
 */
export class InMemoryUploader implements PingUploader {
  readonly uploads: RecordedUpload[] = [];
  pings = 0;
  batches = 0;
  readonly #record: boolean;
  readonly #reject: ((deviceId: string, ping: Ping) => number | string | undefined) | undefined;

  constructor(
    options: {
      record?: boolean;
      reject?: (deviceId: string, ping: Ping) => number | string | undefined;
    } = {},
  ) {
    this.#record = options.record ?? true;
    this.#reject = options.reject;
  }

  async upload(deviceId: string, pings: readonly Ping[]): Promise<UploadOutcome> {
    const rejected: RejectedPingInfo[] = [];
    if (this.#reject) {
      pings.forEach((p, index) => {
        const reason = this.#reject?.(deviceId, p);
        if (reason !== undefined) rejected.push({ index, pingId: p.pingId, reason });
      });
    }
    const outcome = { accepted: pings.length - rejected.length, rejected };
    this.pings += pings.length;
    this.batches++;
    if (this.#record) this.uploads.push({ deviceId, pings, outcome });
    return outcome;
  }
}

/** The pings of `pings` that an outcome did not reject, in order. */
export function acceptedPings(pings: readonly Ping[], outcome: UploadOutcome): readonly Ping[] {
  if (outcome.rejected.length === 0) return pings;
  const bad = new Set(outcome.rejected.map((r) => r.index));
  return pings.filter((_, i) => !bad.has(i));
}
