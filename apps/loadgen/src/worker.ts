// One load worker thread: its share of the devices, its own HTTP/2 sessions, an open-loop pacer (batches
// are due at fixed times whatever the answers do) and latency histograms measured from the time each
// batch was due (so a slow service cannot hide its queueing: no coordinated omission).
import type http2 from 'node:http2';
import { parentPort, workerData } from 'node:worker_threads';
import { UploadResponse } from '@footfall/contracts';
import * as hdr from 'hdr-histogram-js';
import { BatchFactory, type BuiltBatch, type DeviceCredentials, type Spot } from './batches.ts';
import { type CallOutcome, connect, UPLOAD_PATH, unaryCall } from './grpc-h2.ts';
import { emptyCounters, type WorkerCounters, type WorkerInput, type WorkerOutput } from './protocol.ts';

export interface WorkerData {
  target: string;
  devices: DeviceCredentials[];
  spots: Spot[];
  batchPings: number;
  sessions: number;
  timeoutMs: number;
  lookaheadMs: number;
  seed: number;
}

const data = workerData as WorkerData;
const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread');
const post = (message: WorkerOutput) => port.postMessage(message);

const factory = new BatchFactory({
  devices: data.devices,
  spots: data.spots,
  batchPings: data.batchPings,
  seed: data.seed,
});
const newHistogram = () =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
let okMicros = newHistogram();
let refusedMicros = newHistogram();
let counters: WorkerCounters = emptyCounters();

// ---- sessions: a stream cap per session from the server's SETTINGS (grpc-js: max_concurrent_streams)
interface Conn {
  session: http2.ClientHttp2Session;
  inflight: number;
  open: boolean;
}
const conns: Conn[] = [];
function openConn(): Conn {
  const conn: Conn = { session: connect(data.target), inflight: 0, open: true };
  const drop = () => {
    conn.open = false;
    const at = conns.indexOf(conn);
    if (at >= 0) conns.splice(at, 1);
  };
  // GOAWAY (max connection age, shutdown): no new streams here; in-flight ones still finish.
  conn.session.on('goaway', drop);
  conn.session.on('close', drop);
  conns.push(conn);
  return conn;
}
const streamCap = (c: Conn) => c.session.remoteSettings?.maxConcurrentStreams ?? 100;
// Calls are spread round-robin over all `sessions` connections (opened on first use), like devices each
// on their own connection. Filling the first connection up to the server's stream limit before using the
// next (as before) put ~1 000 calls on one connection, which no phone fleet does, and made the server
// refuse streams beyond its limit (ENHANCE_YOUR_CALM) as soon as it was slow to free answered ones.
let nextConn = 0;
function pickConn(): Conn | undefined {
  if (conns.length < data.sessions) return openConn();
  for (let i = 0; i < conns.length; i++) {
    const c = conns[(nextConn + i) % conns.length] as Conn;
    if (c.open && !c.session.destroyed && c.inflight < streamCap(c)) {
      nextConn = (nextConn + i + 1) % conns.length;
      return c;
    }
  }
  return undefined;
}

// ---- pre-built batches: kept `lookaheadMs` ahead of the schedule
const queue: BuiltBatch[] = [];
let queueHead = 0;
let batchesPerSec = 0;
function topUp(): void {
  const want = Math.ceil((batchesPerSec * data.lookaheadMs) / 1000) + 1;
  const now = Date.now();
  while (queue.length - queueHead < want) queue.push(factory.build(now));
  if (queueHead > 4096) {
    queue.splice(0, queueHead);
    queueHead = 0;
  }
}
function takeBatch(): BuiltBatch {
  if (queueHead < queue.length) return queue[queueHead++] as BuiltBatch;
  counters.builtLate++;
  return factory.build(Date.now());
}

// ---- the pacer
let phaseStart = performance.now();
let sentInPhase = 0;
function send(dueAt: number): void {
  const conn = pickConn();
  counters.offeredBatches++;
  counters.offeredPings += data.batchPings;
  if (!conn) {
    // Every allowed stream is busy: the generator refuses to queue without bound (that is how the
    // earlier single-process generator ran out of heap). Counted, never hidden.
    counters.skippedNoStream++;
    return;
  }
  const batch = takeBatch();
  conn.inflight++;
  counters.inflight++;
  unaryCall(conn.session, UPLOAD_PATH, batch.frame, data.timeoutMs, (outcome: CallOutcome) => {
    conn.inflight--;
    counters.inflight--;
    const micros = Math.max(1, Math.round((performance.now() - dueAt) * 1000));
    counters.answered++;
    counters.codes[outcome.code] = (counters.codes[outcome.code] ?? 0) + 1;
    if (outcome.errorCode)
      counters.errorCodes[outcome.errorCode] = (counters.errorCodes[outcome.errorCode] ?? 0) + 1;
    if (outcome.retryAfterMs !== undefined) {
      counters.retryHints++;
      counters.retryHintMaxMs = Math.max(counters.retryHintMaxMs, outcome.retryAfterMs);
    }
    if (outcome.code === 'OK') {
      okMicros.recordValue(Math.min(micros, 600_000_000));
      counters.okBatches++;
      counters.acceptedPings += outcome.body ? UploadResponse.decode(outcome.body).accepted : 0;
    } else {
      refusedMicros.recordValue(Math.min(micros, 600_000_000));
    }
  });
}
function tick(): void {
  if (batchesPerSec > 0) {
    const elapsed = performance.now() - phaseStart;
    const due = Math.floor((elapsed * batchesPerSec) / 1000);
    while (sentInPhase < due) {
      const dueAt = phaseStart + (sentInPhase * 1000) / batchesPerSec;
      sentInPhase++;
      send(dueAt);
    }
  }
  topUp();
}
// 5 ms: schedule error well under the latencies measured, few idle wake-ups per batch.
const pacer = setInterval(tick, 5);

// ---- control from the parent
const report = setInterval(() => {
  const { inflight } = counters;
  post({ type: 'second', counters });
  counters = emptyCounters();
  counters.inflight = inflight;
}, 1000);
port.on('message', (message: WorkerInput) => {
  if (message.type === 'rate') {
    batchesPerSec = message.batchesPerSec;
    phaseStart = performance.now();
    sentInPhase = 0;
    topUp();
  } else if (message.type === 'snapshot') {
    post({
      type: 'snapshot',
      ok: hdr.encodeIntoCompressedBase64(okMicros),
      refused: hdr.encodeIntoCompressedBase64(refusedMicros),
    });
    okMicros = newHistogram();
    refusedMicros = newHistogram();
  } else if (message.type === 'stop') {
    batchesPerSec = 0;
    clearInterval(pacer);
    // Wait for the calls in flight (each ends by its deadline at the latest), then report and close.
    const finish = setInterval(() => {
      if (counters.inflight > 0) return;
      clearInterval(finish);
      clearInterval(report);
      post({ type: 'second', counters });
      counters = emptyCounters();
      for (const c of conns.splice(0)) c.session.close();
      post({ type: 'stopped' });
    }, 20);
  }
});
topUp();
post({ type: 'ready' });
