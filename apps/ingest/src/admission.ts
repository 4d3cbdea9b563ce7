import * as grpc from '@grpc/grpc-js';

/**
 * A refusal answered before the call is handled: the status and its trailers (`footfall-error-code`,
 * `footfall-retry-after-ms`). Built once per reason and reused (grpc-js clones the trailers it sends).
 */
export interface EarlyRefusal {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

/**
 * Admission at the earliest point grpc-js offers: a server interceptor runs when the stream's headers
 * arrive, before the request body is read, buffered or decoded and before the handler (and its promise
 * chain) exists. For `path`, `refuse()` is asked once per call; a refusal is sent at once as a
 * trailers-only answer (status + our trailers) and the handler never runs. grpc-js then discards the
 * body the client still sends (it resumes the stream after the status).
 *
 * Why here and not (only) in the handler (issue 20 item 5): under overload the answer that is cheapest
 * and soonest is the one that keeps the event loop on time, and every call the loop falls behind on
 * ends as a client timeout or an HTTP/2 reset without a status or a retry hint. `onRefused` counts it.
 */
export function admissionInterceptor(
  path: string,
  refuse: () => EarlyRefusal | undefined,
  onRefused: (refusal: EarlyRefusal) => void,
): grpc.ServerInterceptor {
  return (method, call) => {
    const refusal = method.path === path ? refuse() : undefined;
    if (refusal === undefined) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      // Not calling `next`: the call below is never started, so no read is ever requested.
      start: () => {
        onRefused(refusal);
        call.sendStatus(refusal);
      },
    });
  };
}

/** The trailers of a refusal: our error code, and the retry hint when there is one. */
export function refusalTrailers(
  errorCode: string,
  retryAfterMs: number | undefined,
  names: { errorCode: string; retryAfter: string },
): grpc.Metadata {
  const trailers = new grpc.Metadata();
  trailers.set(names.errorCode, errorCode);
  if (retryAfterMs !== undefined) trailers.set(names.retryAfter, String(retryAfterMs));
  return trailers;
}
