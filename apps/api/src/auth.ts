import { createHash, timingSafeEqual } from 'node:crypto';
import { UserTokenError, verifyUserToken } from '@footfall/auth';
import { ApiError } from './errors.ts';

export type Principal = { kind: 'operator' } | { kind: 'user'; deviceId: string };

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Verifies bearer credentials: the OPERATOR_TOKEN, or a user token (issued by apps/ingest at enrollment,
 * signed with USER_TOKEN_SECRET, `sub` = device id; the rules are @footfall/auth's USER_TOKEN_RULES).
 */
export function createAuthenticator(options: {
  userTokenSecret?: string | undefined;
  operatorToken?: string | undefined;
}) {
  const secret = options.userTokenSecret || undefined;
  const operatorDigest = options.operatorToken ? digest(options.operatorToken) : undefined;

  return async function authenticate(authorization: string | undefined): Promise<Principal> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m?.[1])
      throw new ApiError('API_UNAUTHENTICATED', 'missing bearer token (Authorization: Bearer <token>)');
    const token = m[1];
    // Compare digests so the comparison is constant-time whatever the lengths.
    if (operatorDigest && timingSafeEqual(digest(token), operatorDigest)) return { kind: 'operator' };
    if (!secret) throw new ApiError('API_UNAUTHENTICATED', 'invalid token');
    try {
      const { deviceId } = await verifyUserToken(token, secret);
      return { kind: 'user', deviceId };
    } catch (error) {
      const expired = error instanceof UserTokenError && error.reason === 'expired';
      throw new ApiError('API_UNAUTHENTICATED', expired ? 'token expired' : 'invalid token');
    }
  };
}

/** Only the user themself, or an operator, may read or erase a user's data. */
export function assertMayAccess(principal: Principal, deviceId: string): void {
  if (principal.kind === 'operator') return;
  if (principal.deviceId !== deviceId) {
    throw new ApiError('API_FORBIDDEN', "a user token only grants access to that user's own data");
  }
}
