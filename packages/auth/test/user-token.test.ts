import assert from 'node:assert/strict';
import { test } from 'node:test';
import { issueUserToken, USER_TOKEN_RULES, UserTokenError, verifyUserToken } from '@footfall/auth';
import { SignJWT, UnsecuredJWT } from 'jose';

const SECRET = 'user-token-test-secret-0123456789abcdef';
const NOW = Date.UTC(2026, 0, 1);
const key = new TextEncoder().encode(SECRET);
const iat = Math.floor(NOW / 1000);

const rejects = (token: string, reason: 'expired' | 'invalid', nowMs = NOW) =>
  assert.rejects(verifyUserToken(token, SECRET, { nowMs }), (e: unknown) => {
    assert.ok(e instanceof UserTokenError, String(e));
    assert.equal(e.reason, reason, e.message);
    return true;
  });

/** A token like the issuer's, with `change` applied to the builder (to break one rule at a time). */
const forged = (change: (jwt: SignJWT) => SignJWT, alg = 'HS256', signKey: Uint8Array = key) =>
  change(
    new SignJWT({})
      .setProtectedHeader({ alg })
      .setSubject('d1')
      .setIssuer(USER_TOKEN_RULES.issuer)
      .setAudience(USER_TOKEN_RULES.audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600),
  ).sign(signKey);

test('issue → verify round-trips the device id and expiry', async () => {
  const token = await issueUserToken(SECRET, 'v1.abcdefghijklmnopqrstuv', 3600, NOW);
  assert.deepEqual(await verifyUserToken(token, SECRET, { nowMs: NOW + 1000 }), {
    deviceId: 'v1.abcdefghijklmnopqrstuv',
    expiresAtMs: (iat + 3600) * 1000,
  });
});

test('expiry is enforced with the allowed clock skew, no more', async () => {
  const token = await issueUserToken(SECRET, 'd1', 60, NOW);
  const skewMs = USER_TOKEN_RULES.clockToleranceS * 1000;
  await verifyUserToken(token, SECRET, { nowMs: NOW + 60_000 + skewMs - 1000 });
  await rejects(token, 'expired', NOW + 60_000 + skewMs + 1000);
});

test('one rule broken at a time: each is refused', async () => {
  await rejects(await forged((j) => j.setIssuer('someone-else')), 'invalid');
  await rejects(await forged((j) => j.setAudience('another-api')), 'invalid');
  await rejects(await forged((j) => j, 'HS256', new TextEncoder().encode(`${SECRET}x`)), 'invalid');
  await rejects(await forged((j) => j, 'HS512'), 'invalid');
  await rejects(
    new UnsecuredJWT({ sub: 'd1', iss: USER_TOKEN_RULES.issuer, aud: 'footfall-api' }).encode(),
    'invalid',
  );
  // No `exp`: a token valid forever is refused.
  const noExp = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('d1')
    .setIssuer(USER_TOKEN_RULES.issuer)
    .setAudience(USER_TOKEN_RULES.audience)
    .setIssuedAt(iat)
    .sign(key);
  await rejects(noExp, 'invalid');
  // No `iss` (the API used to accept these).
  const noIss = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('d1')
    .setAudience(USER_TOKEN_RULES.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .sign(key);
  await rejects(noIss, 'invalid');
  await rejects(await forged((j) => j.setSubject('')), 'invalid');
  await rejects('not.a.jwt', 'invalid');
});
