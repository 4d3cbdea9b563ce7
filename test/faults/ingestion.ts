// Reads a whole topic of PingRecords and counts each (device id, ping id): the ground for "no
// acknowledged ping lost or duplicated on `ingestion`".
import { randomBytes } from 'node:crypto';
import { PingRecord } from '@footfall/contracts';
import { waitFor } from '@footfall/testing';
import { Admin, Consumer, FetchIsolationLevels, MessagesStreamModes } from '@platformatic/kafka';

export async function countPings(bootstrap: string, topic: string): Promise<Map<string, number>> {
  const admin = new Admin({ clientId: 'faults-count', bootstrapBrokers: [bootstrap] });
  const consumer = new Consumer({
    clientId: 'faults-count',
    bootstrapBrokers: [bootstrap],
    groupId: `faults-count-${randomBytes(4).toString('hex')}`,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  try {
    const ends = (await consumer.listOffsets({ topics: [topic] })).get(topic) ?? [];
    const total = ends.reduce((n, end) => n + Number(end), 0);
    const counts = new Map<string, number>();
    let read = 0;
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    stream.on('data', (m: { value: Buffer }) => {
      read++;
      const r = PingRecord.decode(m.value);
      const key = `${r.deviceId}/${r.pingId}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    });
    await waitFor(`all ${total} records of ${topic}`, () => read >= total, 120_000, 100);
    await stream.close();
    return counts;
  } finally {
    await consumer.close(true).catch(() => {});
    await admin.close().catch(() => {});
  }
}
