// Enrolls the generator's devices through the service's own Enroll RPC (so their secrets are real),
// over the same raw HTTP/2 path as the load. Honours the per-source Enroll rate limit's retry hint.
import { setTimeout as sleep } from 'node:timers/promises';
import { EnrollRequest, EnrollResponse } from '@footfall/contracts';
import type { DeviceCredentials } from './batches.ts';
import { connect, ENROLL_PATH, grpcFrame, unaryCallAsync } from './grpc-h2.ts';

export class EnrollError extends Error {}

export async function enrollDevices(
  target: string,
  count: number,
  options: { concurrency?: number; signal?: AbortSignal; maxAttempts?: number } = {},
): Promise<DeviceCredentials[]> {
  const session = connect(target);
  const devices: DeviceCredentials[] = [];
  const maxAttempts = options.maxAttempts ?? 20;
  let next = 0;
  const one = async (i: number): Promise<DeviceCredentials> => {
    const frame = grpcFrame(
      EnrollRequest.encode({
        installId: `loadgen-${process.pid}-${i}`,
        platform: 'dev',
        attestation: Buffer.alloc(0),
      }).finish(),
    );
    for (let attempt = 1; ; attempt++) {
      options.signal?.throwIfAborted();
      const outcome = await unaryCallAsync(session, ENROLL_PATH, frame, 10_000);
      if (outcome.code === 'OK' && outcome.body) {
        const r = EnrollResponse.decode(outcome.body);
        return { deviceId: r.deviceId, secret: r.deviceSecret };
      }
      if (attempt >= maxAttempts || outcome.code === 'SESSION_CLOSED')
        throw new EnrollError(`Enroll failed: ${outcome.code} ${outcome.errorCode ?? ''}`.trim());
      await sleep(outcome.retryAfterMs ?? 100 * attempt, undefined, { signal: options.signal });
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(count, options.concurrency ?? 64) }, async () => {
        while (next < count) devices.push(await one(next++));
      }),
    );
  } finally {
    session.close();
  }
  return devices;
}
