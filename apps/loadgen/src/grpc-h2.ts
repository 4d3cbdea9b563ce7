// Unary gRPC over node:http2 without a gRPC library: one HTTP/2 stream per call, the request as one
// length-prefixed message (1 byte "compressed" flag + 4 bytes big-endian length), the status in the
// `grpc-status` trailer (or in the headers of a trailers-only answer). grpc-js costs the generator more
// CPU per call than the service spends on it; this path costs a frame copy and a few callbacks.
import http2 from 'node:http2';
import { status as grpcStatus } from '@grpc/grpc-js';

const {
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_TE,
  HTTP2_HEADER_STATUS,
} = http2.constants;

/** The request bytes as one gRPC message frame. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

export interface CallOutcome {
  /**
   * gRPC status name (`OK`, `RESOURCE_EXHAUSTED`, …) when the server answered with one; otherwise what
   * the transport did: `RST_STREAM_<code>` (the stream was reset, e.g. REFUSED_STREAM = 7), `HTTP_<status>`,
   * `SESSION_CLOSED`, or `CLIENT_TIMEOUT` (our own deadline passed first).
   */
  code: string;
  /** `footfall-error-code` trailer, when present. */
  errorCode?: string;
  /** `footfall-retry-after-ms` trailer, when present. */
  retryAfterMs?: number;
  /** The response message (without its 5-byte prefix) on OK. */
  body?: Buffer;
}

const statusNames = new Map<number, string>(
  Object.entries(grpcStatus)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

/** grpc-timeout header value for a deadline in ms (the spec allows at most 8 digits per unit). */
function grpcTimeout(ms: number): string {
  return ms < 1e8 ? `${Math.max(1, Math.round(ms))}m` : `${Math.round(ms / 1000)}S`;
}

/**
 * Starts one unary call on `session` and calls `done` exactly once with its outcome. `timeoutMs` is both
 * sent as `grpc-timeout` and enforced here (the stream is cancelled).
 */
export function unaryCall(
  session: http2.ClientHttp2Session,
  path: string,
  frame: Buffer,
  timeoutMs: number,
  done: (outcome: CallOutcome) => void,
): void {
  let finished = false;
  const finish = (outcome: CallOutcome) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    done(outcome);
  };
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request({
      [HTTP2_HEADER_METHOD]: 'POST',
      [HTTP2_HEADER_PATH]: path,
      [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      [HTTP2_HEADER_TE]: 'trailers',
      'grpc-timeout': grpcTimeout(timeoutMs),
    });
  } catch {
    // The session is closing or destroyed (GOAWAY): the call never left.
    finished = true;
    done({ code: 'SESSION_CLOSED' });
    return;
  }
  const timer = setTimeout(() => {
    // A busy generator runs its due timers before it reads its sockets: wait for the poll phase of this
    // loop turn (setImmediate runs after it) so an answer already received counts as the answer, not
    // as a timeout the generator's own lateness caused. The latency recorded is still the late one.
    setImmediate(() => {
      if (finished) return;
      finish({ code: 'CLIENT_TIMEOUT' });
      stream.close(http2.constants.NGHTTP2_CANCEL);
    });
  }, timeoutMs);
  let httpStatus = 0;
  let chunks: Buffer[] | undefined;
  const fromMetadata = (h: http2.IncomingHttpHeaders): CallOutcome | undefined => {
    const s = h['grpc-status'];
    if (s === undefined) return undefined;
    const n = Number(s);
    const outcome: CallOutcome = { code: statusNames.get(n) ?? `STATUS_${s}` };
    const errorCode = h['footfall-error-code'];
    if (typeof errorCode === 'string') outcome.errorCode = errorCode;
    const retry = h['footfall-retry-after-ms'];
    if (typeof retry === 'string') outcome.retryAfterMs = Number(retry);
    if (n === 0 && chunks) {
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      outcome.body = all.subarray(5);
    }
    return outcome;
  };
  stream.on('response', (headers) => {
    httpStatus = Number(headers[HTTP2_HEADER_STATUS]);
    const trailersOnly = fromMetadata(headers);
    if (trailersOnly) finish(trailersOnly);
  });
  stream.on('data', (chunk: Buffer) => {
    if (chunks) chunks.push(chunk);
    else chunks = [chunk];
  });
  stream.on('trailers', (trailers) => {
    const outcome = fromMetadata(trailers);
    if (outcome) finish(outcome);
  });
  stream.on('error', () => {}); // reported by 'close' below, with the reset code
  stream.on('close', () => {
    if (finished) return;
    if (stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
      finish({ code: `RST_STREAM_${stream.rstCode}` });
    else if (httpStatus && httpStatus !== 200) finish({ code: `HTTP_${httpStatus}` });
    else finish({ code: 'SESSION_CLOSED' });
  });
  stream.end(frame);
}

/** Promise form of {@link unaryCall} (enrollment, tests). */
export function unaryCallAsync(
  session: http2.ClientHttp2Session,
  path: string,
  frame: Buffer,
  timeoutMs: number,
): Promise<CallOutcome> {
  return new Promise((resolve) => unaryCall(session, path, frame, timeoutMs, resolve));
}

export const UPLOAD_PATH = '/footfall.ingest.v1.IngestService/Upload';
export const ENROLL_PATH = '/footfall.ingest.v1.IngestService/Enroll';

/** An HTTP/2 session to `host:port` (cleartext, like the service's default listener). */
export function connect(target: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://${target}`, {
    // Large windows: many small streams in flight per session must not stall on flow control.
    settings: { initialWindowSize: 1 << 20 },
  });
  session.on('error', () => {}); // the owner notices 'close' and reconnects
  return session;
}
