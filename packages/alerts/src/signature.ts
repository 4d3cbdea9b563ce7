// Webhook signatures, Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`,
// `webhook-timestamp` (epoch seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
// `<id>.<timestamp>.<body>` with the subscription's secret). The timestamp is inside the signed content,
// so a captured delivery cannot be replayed later with a new timestamp; a receiver refuses old ones.

import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new signing secret: `whsec_` + base64 of 32 random bytes (the Standard Webhooks format). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The three headers of one delivery attempt of message `id`. */
export function signWebhook(
  secret: string,
  id: string,
  body: string,
  at: Date = new Date(),
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': new Webhook(secret).sign(id, new Date(timestamp * 1000), body),
  };
}

/** Receiver side (tests, docs): verifies signature and timestamp (±5 min) and returns the parsed body. */
export function verifyWebhook(secret: string, body: string, headers: Record<string, string>): unknown {
  return new Webhook(secret).verify(body, headers);
}
