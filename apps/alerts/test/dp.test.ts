// PRIVACY_MODE=dp: the alerts service evaluates nothing and delivers nothing (docs/alerts.md,
// "Differential privacy"), and says so in its metrics. It does not even connect to Kafka: it starts
// against an unreachable broker, where the evaluating service would keep retrying its subscription.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '@footfall/db';
import { createTemporaryDatabase } from '@footfall/testing';
import { pino } from 'pino';
import { loadAlertsConfig, startAlerts } from '../src/index.ts';

test('PRIVACY_MODE=dp: no consumer, no evaluation, footfall_alerts_dp_refused 1, ready on the database', async (t) => {
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url, poolSize: 2 });
  t.after(async () => {
    await db.close();
    await temp.drop();
  });
  const alerts = await startAlerts(
    loadAlertsConfig({ PRIVACY_MODE: 'dp' }, { kafkaBootstrap: ['127.0.0.1:1'], opsPort: 0 }),
    { db, logger: pino({ level: 'silent' }) },
  );
  try {
    const ops = `http://127.0.0.1:${alerts.opsPort}`;
    assert.match(await (await fetch(`${ops}/metrics`)).text(), /^footfall_alerts_dp_refused({[^}]*})? 1$/m);
    assert.equal((await fetch(`${ops}/readyz`)).status, 200);
    assert.equal(alerts.batches, 0);
  } finally {
    await alerts.close();
  }
});
