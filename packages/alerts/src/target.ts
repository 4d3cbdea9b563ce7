// Webhook target validation (SSRF): a subscription may only make the delivering service call public
// http(s) endpoints, checked on the URL, on every address its host resolves to when it is created, and
// again on the address actually connected to at each delivery (a DNS answer may change in between).

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface TargetPolicy {
  /**
   * Allow loopback, private (RFC 1918, fc00::/7) and carrier-grade NAT addresses: for a local receiver
   * in development and tests. Link-local (169.254.0.0/16 with the cloud metadata service, fe80::/10),
   * unspecified, multicast and reserved addresses are refused whatever this says.
   */
  allowPrivate: boolean;
}

/** Why a target is refused. */
export class TargetError extends Error {
  override name = 'TargetError';
}

/** Longest target URL accepted. */
export const MAX_TARGET_URL_LENGTH = 2_048;

const PRIVATE_RANGES = new Set(['private', 'loopback', 'uniqueLocal', 'carrierGradeNat']);

/** Why `address` (an IP literal) may not be called, or undefined when it may. */
export function addressError(address: string, policy: TargetPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 address it is.
  const range = ipaddr.process(address).range();
  if (range === 'unicast') return undefined;
  if (policy.allowPrivate && PRIVATE_RANGES.has(range)) return undefined;
  return `resolves to a ${range} address`;
}

/** Parses and checks the URL itself (scheme, credentials, length); no DNS. */
export function parseTargetUrl(text: string): URL {
  if (text.length > MAX_TARGET_URL_LENGTH) throw new TargetError('URL too long');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TargetError('not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TargetError('scheme must be http or https');
  if (url.username || url.password) throw new TargetError('credentials in the URL are not allowed');
  if (!url.hostname) throw new TargetError('no host');
  return url;
}

/** URL hostname without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

type LookupAll = (host: string) => Promise<LookupAddress[]>;
const lookupAll: LookupAll = (host) =>
  new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );

/**
 * Full check of a target: the URL, then every address its host resolves to (all of them must be
 * allowed: a round-robin name with one internal address is refused). Returns the parsed URL.
 */
export async function validateTarget(
  text: string,
  policy: TargetPolicy,
  resolve: LookupAll = lookupAll,
): Promise<URL> {
  const url = parseTargetUrl(text);
  const host = hostOf(url);
  const addresses = isIP(host)
    ? [{ address: host, family: isIP(host) }]
    : await resolve(host).catch(() => []);
  if (addresses.length === 0) throw new TargetError('host does not resolve');
  for (const a of addresses) {
    const why = addressError(a.address, policy);
    if (why) throw new TargetError(why);
  }
  return url;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request` that refuses a forbidden address at connect time: the address checked
 * is the address used, so a name re-pointed at an internal address after validation is still refused.
 * (IP-literal hosts skip `lookup` in Node: check them with `addressError` before the request.)
 */
export function guardedLookup(policy: TargetPolicy) {
  return (
    hostname: string,
    options: { all?: boolean } & Record<string, unknown>,
    callback: LookupCallback,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const a of addresses) {
        const why = addressError(a.address, policy);
        if (why)
          return callback(
            Object.assign(new TargetError(`webhook target ${why}`), { code: 'EWEBHOOKTARGET' }),
            [],
          );
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

/** The host of a URL as Node's HTTP client sees it (for the IP-literal check). */
export { hostOf };
