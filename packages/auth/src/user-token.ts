// The user token: a JWT that apps/ingest issues at enrollment and the query API accepts for a user's
// own data ("my time", erasure). One issuer and one verifier with one set of rules, here, so the two
// services cannot drift apart (they once did: the API accepted tokens without `iss` or `exp`).
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';

/** The rules every user token obeys. */
export const USER_TOKEN_RULES = Object.freeze({
  /** The only accepted algorithm (HMAC-SHA256 with USER_TOKEN_SECRET); `none` and others are refused. */
  algorithm: 'HS256',
  issuer: 'footfall-ingest',
  audience: 'footfall-api',
  /** Allowed clock skew between issuer and verifier, seconds, on `exp`, `nbf` and `iat`. */
  clockToleranceS: 30,
  /** Claims a token must carry: a token without `exp` would be valid forever. */
  requiredClaims: Object.freeze(['sub', 'iss', 'aud', 'exp', 'iat'] as const),
});

/** Why a token was refused: `expired` can be fixed by enrolling again, `invalid` cannot. */
export type UserTokenErrorReason = 'expired' | 'invalid';

export class UserTokenError extends Error {
  readonly reason: UserTokenErrorReason;
  constructor(reason: UserTokenErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserTokenError';
    this.reason = reason;
  }
}

export interface UserIdentity {
  /** The device the token speaks for (`sub`). */
  deviceId: string;
  /** Token expiry, ms since the epoch. */
  expiresAtMs: number;
}

const keyOf = (secret: string) => new TextEncoder().encode(secret);

/** Issues a user token for `deviceId`, valid `ttlS` seconds from `nowMs`. */
export async function issueUserToken(
  secret: string,
  deviceId: string,
  ttlS: number,
  nowMs = Date.now(),
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: USER_TOKEN_RULES.algorithm, typ: 'JWT' })
    .setSubject(deviceId)
    .setAudience(USER_TOKEN_RULES.audience)
    .setIssuer(USER_TOKEN_RULES.issuer)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlS)
    .sign(keyOf(secret));
}

/**
 * Verifies `token` against {@link USER_TOKEN_RULES} and returns whom it speaks for; throws
 * {@link UserTokenError} otherwise (map it to HTTP 401 / gRPC UNAUTHENTICATED).
 */
export async function verifyUserToken(
  token: string,
  secret: string,
  options: { nowMs?: number } = {},
): Promise<UserIdentity> {
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: [USER_TOKEN_RULES.algorithm],
      issuer: USER_TOKEN_RULES.issuer,
      audience: USER_TOKEN_RULES.audience,
      clockTolerance: USER_TOKEN_RULES.clockToleranceS,
      requiredClaims: [...USER_TOKEN_RULES.requiredClaims],
      ...(options.nowMs === undefined ? {} : { currentDate: new Date(options.nowMs) }),
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired)
      throw new UserTokenError('expired', 'token expired', { cause: error });
    const detail = error instanceof Error ? error.message : String(error);
    throw new UserTokenError('invalid', `invalid token: ${detail}`, { cause: error });
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new UserTokenError('invalid', 'invalid token: no subject');
  }
  return { deviceId: payload.sub, expiresAtMs: (payload.exp as number) * 1000 };
}
