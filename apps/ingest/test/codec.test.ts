import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ping, PingBatch, PingRecord, RejectReason } from '@footfall/contracts';
import { javaPartition } from '@footfall/kafka';
import { mulberry32 } from '@footfall/testing';
import { cellToParent, latLngToCell } from 'h3-js';
import { decodeBatchHeader } from '../src/ping-codec.ts';
import { maxUploadResponseBytes, prepareBatch } from '../src/prepare-batch.ts';
import { RegionRouter } from '../src/router.ts';
import { maxSendMessageBytes } from '../src/server.ts';
import { codeOf, NOW, validPing } from './helpers.ts';

const limits = { maxBatchPings: 10, maxClockSkewMs: 60_000, maxPingAgeMs: 48 * 3_600_000 };
const ping = (over: Partial<Ping> = {}): Ping => validPing(NOW, over);

const router = new RegionRouter({ cellResolution: 10, regionResolution: 5 });
const ctx = { topic: 't', cellResolution: 10, limits, router };
/** Encodes pings as a client would and runs them through the server's decode + validate + encode. */
const prepare = (pings: Ping[], deviceId = 'k1.AAAAAAAAAAAAAAAAAAAAAA') => {
  const bytes = Buffer.from(PingBatch.encode({ deviceId, nonce: 'n', sentAtMs: NOW, pings }).finish());
  const header = decodeBatchHeader(bytes);
  return prepareBatch(bytes, header.pingRanges, deviceId, NOW + 5, 6, ctx);
};

describe('prepareBatch (decode, validate, encode)', () => {
  test('accepts valid pings, edge values included', () => {
    const r = prepare([
      ping(),
      ping({ pingId: 'b'.repeat(16), latitude: 90, longitude: -180, accuracyM: 10_000 }),
      ping({
        pingId: '123e4567-e89b-12d3-a456-426614174000',
        eventTimeMs: NOW + 60_000,
        speedMps: 0,
        headingDeg: 360,
      }),
    ]);
    assert.equal(r.records.length, 3);
    assert.deepEqual(r.rejected, []);
    assert.equal(r.rejectedCount, 0);
  });
  test('rejects each bad field with its reason and index', () => {
    const bad: [Partial<Ping>, RejectReason][] = [
      [{ pingId: 'short' }, RejectReason.REJECT_REASON_BAD_ID],
      [{ pingId: 'has spaces in it!!' }, RejectReason.REJECT_REASON_BAD_ID],
      [{ pingId: 'é'.repeat(16) }, RejectReason.REJECT_REASON_BAD_ID],
      [{ pingId: 'a'.repeat(65) }, RejectReason.REJECT_REASON_BAD_ID],
      [{ latitude: undefined }, RejectReason.REJECT_REASON_MISSING_COORDINATES],
      [{ longitude: undefined }, RejectReason.REJECT_REASON_MISSING_COORDINATES],
      [{ latitude: 90.0001 }, RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE],
      [{ latitude: Number.NaN }, RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE],
      [{ longitude: Number.POSITIVE_INFINITY }, RejectReason.REJECT_REASON_LONGITUDE_OUT_OF_RANGE],
      [{ accuracyM: 0 }, RejectReason.REJECT_REASON_BAD_ACCURACY],
      [{ accuracyM: -1 }, RejectReason.REJECT_REASON_BAD_ACCURACY],
      [{ accuracyM: 10_000.5 }, RejectReason.REJECT_REASON_BAD_ACCURACY],
      [{ eventTimeMs: NOW + 60_006 }, RejectReason.REJECT_REASON_IN_FUTURE],
      [{ eventTimeMs: NOW - 48 * 3_600_000 + 4 }, RejectReason.REJECT_REASON_TOO_OLD],
      [{ eventTimeMs: (2n ** 53n) as never }, RejectReason.REJECT_REASON_IN_FUTURE],
      [{ eventTimeMs: (2n ** 63n - 1n) as never }, RejectReason.REJECT_REASON_IN_FUTURE],
      [{ eventTimeMs: -(2n ** 53n) as never }, RejectReason.REJECT_REASON_TOO_OLD],
      [{ eventTimeMs: -(2n ** 63n) as never }, RejectReason.REJECT_REASON_TOO_OLD],
      [{ speedMps: -1 }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
      [{ headingDeg: 361 }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
      [{ altitudeM: Number.NaN }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
      [{ activity: 42 as never }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
      [{ activity: -1 as never }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
    ];
    for (const [over, reason] of bad) {
      const r = prepare([ping({ pingId: 'okokokokokokokok' }), ping(over)]);
      assert.equal(
        r.records.length,
        1,
        JSON.stringify(over, (_, v) => String(v)),
      );
      assert.deepEqual([r.rejected[0]?.index, r.rejected[0]?.reason], [1, reason], String(reason));
      assert.equal(r.rejectedCount, 1);
    }
  });
  test('duplicate ping id in a batch keeps the first', () => {
    const r = prepare([ping(), ping()]);
    assert.equal(r.records.length, 1);
    assert.equal(r.rejected[0]?.reason, RejectReason.REJECT_REASON_DUPLICATE_IN_BATCH);
  });
  test('records are byte-identical to PingRecord.encode (seeded random pings)', () => {
    const seed = Number(process.env.TEST_SEED ?? 20261201);
    const random = mulberry32(seed);
    const deviceId = 'k1.BBBBBBBBBBBBBBBBBBBBBB';
    const pings = Array.from({ length: 500 }, (_, i) =>
      ping({
        pingId: `p${String(i).padStart(15, '0')}${'x'.repeat(Math.floor(random() * 48))}`,
        eventTimeMs: NOW - Math.floor(random() * 40 * 3_600_000),
        latitude: random() * 180 - 90,
        longitude: random() * 360 - 180,
        accuracyM: Math.fround(random() * 100 + 0.5),
        ...(random() < 0.5 ? { speedMps: Math.fround(random() * 50) } : {}),
        ...(random() < 0.5 ? { headingDeg: Math.fround(random() * 360) } : {}),
        ...(random() < 0.5 ? { altitudeM: Math.fround(random() * 2000 - 100) } : {}),
        activity: Math.floor(random() * 6) as never,
      }),
    );
    const r = prepare(pings, deviceId);
    assert.equal(r.records.length, pings.length, `seed ${seed}`);
    pings.forEach((p, i) => {
      const cell = latLngToCell(p.latitude as number, p.longitude as number, 10);
      const expected = PingRecord.encode({
        pingId: p.pingId,
        deviceId,
        eventTimeMs: p.eventTimeMs,
        receivedAtMs: NOW + 5,
        latitude: p.latitude as number,
        longitude: p.longitude as number,
        accuracyM: p.accuracyM,
        cell,
        speedMps: p.speedMps,
        headingDeg: p.headingDeg,
        altitudeM: p.altitudeM,
        activity: p.activity,
      }).finish();
      const record = r.records[i];
      assert.ok(record);
      assert.deepEqual(new Uint8Array(record.value), expected, `ping ${i}, seed ${seed}`);
      assert.equal(record.key.toString(), cellToParent(cell, 5));
      assert.equal(record.partition, javaPartition(cellToParent(cell, 5), 6));
    });
  });
  test('unknown fields are skipped; broken wire format is INGEST_MALFORMED', () => {
    const one = Buffer.from(
      PingBatch.encode({ deviceId: 'd', nonce: 'n', sentAtMs: NOW, pings: [ping()] }).finish(),
    );
    // field 15, varint, appended at batch level and inside the ping (a newer client's extra field)
    const pingBytes = Buffer.concat([Buffer.from(Ping.encode(ping()).finish()), Buffer.from([0x78, 0x01])]);
    const extended = Buffer.concat([
      one.subarray(0, one.length - 0),
      Buffer.from([0x78, 0x05, 0x22, pingBytes.length]),
      pingBytes,
    ]);
    const header = decodeBatchHeader(extended);
    assert.equal(header.pingRanges.length, 4);
    const r = prepareBatch(extended, header.pingRanges, 'd', NOW, 6, ctx);
    assert.equal(r.records.length, 1, 'second copy is a duplicate id');
    assert.equal(r.rejectedCount, 1);
    assert.equal(
      codeOf(() => decodeBatchHeader(one.subarray(0, one.length - 3))),
      'INGEST_MALFORMED',
    );
    assert.equal(
      codeOf(() => decodeBatchHeader(Buffer.from([0x0f, 0x01]))),
      'INGEST_MALFORMED',
    );
    const truncatedPing = Buffer.from([0x22, 0x03, 0x19, 0x00, 0x00]);
    const h = decodeBatchHeader(truncatedPing);
    assert.equal(
      codeOf(() => prepareBatch(truncatedPing, h.pingRanges, 'd', NOW, 6, ctx)),
      'INGEST_MALFORMED',
    );
  });
  test('the largest response fits the send limit, whatever the batch size', () => {
    for (const max of [1, 500, 1_000, 100_000]) {
      assert.ok(maxUploadResponseBytes(max) <= maxSendMessageBytes(max));
    }
    assert.ok(maxSendMessageBytes(100_000) < 16 * 1024, 'a thousand entries of a few bytes');
  });
});

describe('RegionRouter', () => {
  test('the region from the cell-prefix cache equals cellToParent (seeded random points, all resolutions)', () => {
    const seed = Number(process.env.TEST_SEED ?? 15);
    const random = mulberry32(seed);
    for (const [cellResolution, regionResolution] of [
      [10, 5],
      [9, 4],
      [12, 7],
      [15, 0],
      [8, 8],
    ] as const) {
      const r = new RegionRouter({ cellResolution, regionResolution });
      for (let i = 0; i < 3_000; i++) {
        // clustered points (shared prefixes) and points anywhere
        const [lat, lon] =
          i % 2
            ? [52.5 + random() * 0.5, 13.4 + random() * 0.5]
            : [random() * 170 - 85, random() * 360 - 180];
        const cell = latLngToCell(lat, lon, cellResolution);
        const region = regionResolution >= cellResolution ? cell : cellToParent(cell, regionResolution);
        const route = r.route(cell, 6);
        assert.equal(route.key.toString(), region, `seed ${seed}: ${cell} at res ${regionResolution}`);
        assert.equal(route.partition, javaPartition(region, 6));
      }
    }
  });
});
