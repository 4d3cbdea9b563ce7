// What one overload refusal costs the ingest service, in CPU time (issue #20 item 5): `node
// bench/refusal-cost.ts`. Starts a private broker and ingest in this process with
// INGEST_MAX_INFLIGHT_UPLOADS=1, holds one admitted upload at the producer so every further upload is
// refused, then a separate client process sends BENCH_REFUSALS (default 20 000) uploads with a 3 KB body
// over 8 HTTP/2 connections. Reports this process's CPU time (user + system, all threads) per refusal and
// the share answered with RESOURCE_EXHAUSTED + `footfall-retry-after-ms`. CPU time, not wall time: on a
// shared machine it moves far less with the load than latencies do (load is printed anyway).
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import { loadavg } from 'node:os';
import { assertNodeVersion } from '@footfall/config';
import { DeviceClient, loadIngestConfig, startIngest } from '@footfall/ingest';
import { startLocalBroker } from '@footfall/kafka';

const UPLOAD_PATH = '/footfall.ingest.v1.IngestService/Upload';

/** Client mode: N calls over 8 connections, at most 100 in flight on each; prints the outcome counts. */
async function client(target: string, n: number): Promise<void> {
  const body = Buffer.alloc(5 + 3_000, 7);
  body[0] = 0;
  body.writeUInt32BE(3_000, 1);
  const sessions = Array.from({ length: 8 }, () => {
    const s = http2.connect(`http://${target}`);
    s.on('error', () => {});
    return s;
  });
  const counts: Record<string, number> = {};
  let sent = 0;
  const one = (session: http2.ClientHttp2Session): Promise<void> =>
    new Promise((resolve) => {
      const stream = session.request({
        ':method': 'POST',
        ':path': UPLOAD_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let key = 'NO_STATUS';
      const read = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] === undefined) return;
        key = `${h['grpc-status']}${h['footfall-retry-after-ms'] === undefined ? '' : '+hint'}`;
      };
      stream.on('response', read);
      stream.on('trailers', read);
      stream.on('error', () => {});
      stream.on('close', () => {
        counts[key] = (counts[key] ?? 0) + 1;
        resolve();
      });
      stream.end(body);
    });
  await Promise.all(
    sessions.map(async (session) => {
      const lanes = Array.from({ length: 100 }, async () => {
        while (sent < n) {
          sent++;
          await one(session);
        }
      });
      await Promise.all(lanes);
    }),
  );
  for (const s of sessions) s.close();
  process.stdout.write(JSON.stringify(counts));
}

if (process.argv[2] === 'client') {
  await client(process.argv[3] as string, Number(process.argv[4]));
  process.exit(0);
}

assertNodeVersion();
const N = Number(process.env.BENCH_REFUSALS ?? 20_000);
const log = (line: string) => console.error(`[refusal-cost] ${line}`);
const broker = await startLocalBroker({
  readyTimeoutMs: 240_000,
  topics: [
    { name: 'ingestion', partitions: 3 },
    { name: 'erasures', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
  ],
  onProgress: log,
});
const ingest = await startIngest(
  loadIngestConfig(
    {},
    {
      kafkaBootstrap: [broker.bootstrap],
      grpcHost: '127.0.0.1',
      grpcPort: 0,
      opsPort: 0,
      logLevel: 'silent',
      deviceKeySecret: 'bench-device-key-secret-0123456789abcdef',
      userTokenSecret: 'bench-user-token-secret-0123456789abcdef',
      allowDevAttestation: true,
      maxInflightUploads: 1,
      produceTimeoutMs: 600_000,
    },
  ),
);
try {
  const target = `127.0.0.1:${ingest.port}`;
  // Retries (with the service's hint) while ingest still loads the erasure log from Kafka.
  const device = new DeviceClient({ target, maxAttempts: 60, deadlineMs: 600_000 });
  await device.enroll();
  // Hold the producer: the one admitted upload stays in progress, every other upload is refused.
  const producer = ingest.producer;
  const realSend = producer.send.bind(producer);
  const gate = Promise.withResolvers<void>();
  let held = false;
  const isHeld = Promise.withResolvers<void>();
  producer.send = (records) => {
    held = true;
    isHeld.resolve();
    return gate.promise.then(() => realSend(records));
  };
  const admitted = device.upload([
    { eventTimeMs: Date.now() - 1_000, latitude: 52.52, longitude: 13.405, accuracyM: 10 },
  ]);
  await isHeld.promise;
  const loadStart = loadavg();
  const cpu0 = process.cpuUsage();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [import.meta.filename, 'client', target, String(N)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d;
    });
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`client exited ${code}`))));
  });
  const cpu = process.cpuUsage(cpu0);
  const counts = JSON.parse(out) as Record<string, number>;
  const hinted = counts['8+hint'] ?? 0;
  gate.resolve();
  await admitted;
  console.log(
    JSON.stringify(
      {
        refusals: N,
        answers: counts,
        withStatusAndHintShare: +(hinted / N).toFixed(4),
        serviceCpuMicrosPerRefusal: +((cpu.user + cpu.system) / N).toFixed(1),
        heldUploadStillInProgress: held,
        loadAverage: { start: loadStart, end: loadavg() },
      },
      null,
      2,
    ),
  );
} finally {
  await ingest.close();
  await broker.close();
}
