// Where errors become HTTP answers, for all four ways Fastify/Node can fail a request: a route or hook
// throws (error handler), no route matches (not-found handler), the router rejects the URL before any
// route runs (frameworkErrors), or Node's HTTP parser rejects the bytes (clientError). All four answer
// with the documented `{"error":{"code","message"}}` body, via the catalog in ../errors.ts.

import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, type ApiErrorCode, errorBody, toApiError } from '../errors.ts';
import type { ApiApp } from './context.ts';

/** Headers every answer carries, the raw ones included. */
export const COMMON_HEADERS = { 'x-content-type-options': 'nosniff' } as const;
/**
 * Answers given before any route matched may concern a per-user path, and per-user answers are never
 * stored by caches.
 */
const UNROUTED_HEADERS = { ...COMMON_HEADERS, 'cache-control': 'no-store' } as const;

/** Error handler and not-found handler (install on the root instance). */
export function installErrorHandling(app: ApiApp): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const { apiError, internal } = toApiError(error);
    if (internal) {
      request.log.error({ err: error, route: request.routeOptions.url }, apiError.code);
    }
    return reply.code(apiError.status).send(errorBody(apiError.code, apiError.message));
  });
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send(errorBody('API_NOT_FOUND', 'no such route (see /openapi.json)')),
  );
}

/**
 * Fastify's `frameworkErrors` option: the router's own rejections (malformed URL encoding, a path
 * parameter longer than `maxParamLength`), which otherwise answer with Fastify's default body.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const known: Record<string, [ApiErrorCode, string]> = {
    FST_ERR_BAD_URL: ['API_BAD_REQUEST', 'the URL is not validly encoded'],
    FST_ERR_MAX_PARAM_LENGTH: ['API_URI_TOO_LONG', 'a path parameter is too long'],
  };
  const [code, message] = known[error.code] ?? ['API_INTERNAL', 'internal error'];
  const e = new ApiError(code, message);
  void reply.code(e.status).headers(UNROUTED_HEADERS).send(errorBody(e.code, e.message));
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * Node's `clientError` (Fastify's `clientErrorHandler` option): bytes that are not a valid HTTP request,
 * headers over `maxHeaderSize` (16 KiB), a request that took longer than `requestTimeout`. No request
 * object exists yet, so the answer is written on the socket, then the connection is closed.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message]: [ApiErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['API_HEADERS_TOO_LARGE', 'request headers too large (16 KiB at most)']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['API_REQUEST_TIMEOUT', 'the request took too long to arrive']
        : ['API_BAD_REQUEST', 'malformed HTTP request'];
  const e = new ApiError(code, message);
  const body = JSON.stringify(errorBody(e.code, e.message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_TEXT[e.status] ?? 'Error'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy(error);
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/**
 * Records every route's methods (call before registering routes), and `finish()` then answers the
 * other methods on those paths with 405 and an `Allow` header instead of a 404.
 */
export function methodNotAllowed(app: ApiApp) {
  const byUrl = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    const set = byUrl.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) set.add(m);
    if (set.has('GET')) set.add('HEAD');
    byUrl.set(route.url, set);
  });
  return {
    finish(): void {
      for (const [url, allowed] of [...byUrl]) {
        const missing = METHODS.filter((m) => !allowed.has(m));
        if (missing.length === 0 || url.includes('*')) continue;
        const allow = METHODS.filter((m) => allowed.has(m)).join(', ');
        app.route({
          method: missing,
          url,
          schema: { hide: true },
          handler: async (_request, reply) =>
            reply
              .code(405)
              .header('allow', allow)
              .send(errorBody('API_METHOD_NOT_ALLOWED', `this path allows ${allow}`)),
        });
      }
    },
  };
}
