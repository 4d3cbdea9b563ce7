// Signed upload frames, built ahead of the send schedule. Every batch is distinct: its own nonce and
// ping ids, sent_at_ms and event times at build time, so the service's replay guard and per-ping checks
// see what real phones send. Building (encode + HMAC) happens before a batch is due, not on the send path.
import { randomBytes } from 'node:crypto';
import { PingBatch, UploadRequest } from '@footfall/contracts';
import { signBatch } from '@footfall/ingest/credentials';
import { grpcFrame } from './grpc-h2.ts';

export interface DeviceCredentials {
  deviceId: string;
  /** The device secret from Enroll. */
  secret: Uint8Array;
}

/** A place devices stand at (its centre); pings scatter ~10 m around it. */
export interface Spot {
  lat: number;
  lon: number;
}

export interface BuiltBatch {
  frame: Buffer;
  pings: number;
}

const ID_BYTES = 16; // base64url → 22 characters: a valid ping id and nonce

/**
 * Round-robin over its devices; each device stays at one spot for `dwellBatches` batches, then moves to
 * another, so the processor sees stays and moves rather than noise.
 */
export class BatchFactory {
  readonly #devices: readonly DeviceCredentials[];
  readonly #spots: readonly Spot[];
  readonly #batchPings: number;
  readonly #pingIntervalMs: number;
  readonly #dwellBatches: number;
  readonly #spotOf: Int32Array;
  readonly #batchesOf: Int32Array;
  #next = 0;
  #rng: number;

  constructor(options: {
    devices: readonly DeviceCredentials[];
    spots: readonly Spot[];
    batchPings: number;
    /** Event-time spacing of the pings of one batch, ms (a phone batches what it recorded). */
    pingIntervalMs?: number;
    dwellBatches?: number;
    seed?: number;
  }) {
    if (options.devices.length === 0) throw new Error('BatchFactory needs at least one device');
    if (options.spots.length === 0) throw new Error('BatchFactory needs at least one spot');
    this.#devices = options.devices;
    this.#spots = options.spots;
    this.#batchPings = options.batchPings;
    this.#pingIntervalMs = options.pingIntervalMs ?? 1_000;
    this.#dwellBatches = options.dwellBatches ?? 10;
    this.#rng = (options.seed ?? 1) >>> 0 || 1;
    this.#spotOf = new Int32Array(this.#devices.length).map(() => this.#random(this.#spots.length));
    this.#batchesOf = new Int32Array(this.#devices.length);
  }

  /** xorshift32: deterministic spots per seed, cheap. */
  #random(n: number): number {
    let x = this.#rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#rng = x >>> 0;
    return this.#rng % n;
  }

  /** One signed UploadRequest frame for the next device, stamped `nowMs`. */
  build(nowMs: number): BuiltBatch {
    const d = this.#next;
    this.#next = (d + 1) % this.#devices.length;
    const device = this.#devices[d] as DeviceCredentials;
    const done = (this.#batchesOf[d] ?? 0) + 1;
    this.#batchesOf[d] = done;
    if (done % this.#dwellBatches === 0) this.#spotOf[d] = this.#random(this.#spots.length);
    const spot = this.#spots[this.#spotOf[d] as number] as Spot;
    const n = this.#batchPings;
    const ids = randomBytes(ID_BYTES * (n + 1));
    const pings = new Array(n);
    for (let i = 0; i < n; i++) {
      pings[i] = {
        pingId: ids.toString('base64url', i * ID_BYTES, (i + 1) * ID_BYTES),
        eventTimeMs: nowMs - (n - 1 - i) * this.#pingIntervalMs,
        latitude: spot.lat + (this.#random(200) - 100) * 1e-6,
        longitude: spot.lon + (this.#random(200) - 100) * 1e-6,
        accuracyM: 10,
        activity: 1,
      };
    }
    const batch = PingBatch.encode({
      deviceId: device.deviceId,
      nonce: ids.toString('base64url', n * ID_BYTES),
      sentAtMs: nowMs,
      pings,
    }).finish();
    const request = UploadRequest.encode({
      deviceId: device.deviceId,
      batch: Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength),
      signature: signBatch(device.secret, batch),
    }).finish();
    return { frame: grpcFrame(request), pings: n };
  }
}
