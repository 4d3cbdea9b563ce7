import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressError, guardedLookup, parseTargetUrl, TargetError, validateTarget } from '../src/index.ts';

const strict = { allowPrivate: false };
const dev = { allowPrivate: true };
const resolver = (map: Record<string, string[]>) => async (host: string) =>
  (map[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('webhook target validation (SSRF)', () => {
  it('only http(s), no credentials, absolute URLs', () => {
    for (const bad of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'gopher://x',
      'example.com/hook',
      'http://u:p@example.com/',
    ]) {
      assert.throws(() => parseTargetUrl(bad), TargetError, bad);
    }
    assert.equal(parseTargetUrl('https://example.com/hook').host, 'example.com');
  });

  it('refuses loopback, private, link-local/metadata, unspecified, multicast; IPv4-mapped IPv6 too', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      'fe80::1',
      'fd00:ec2::254',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      '100.64.0.1',
    ]) {
      assert.ok(addressError(ip, strict), ip);
    }
    assert.equal(addressError('93.184.215.14', strict), undefined);
    assert.equal(addressError('2606:4700::1111', strict), undefined);
  });

  it('ALERTS_WEBHOOK_ALLOW_PRIVATE admits loopback and private, never link-local (metadata)', () => {
    assert.equal(addressError('127.0.0.1', dev), undefined);
    assert.equal(addressError('10.0.0.1', dev), undefined);
    assert.ok(addressError('169.254.169.254', dev));
    assert.ok(addressError('fe80::1', dev));
  });

  it('resolves names: every address must be allowed', async () => {
    const dns = resolver({
      'public.test': ['93.184.215.14'],
      'sneaky.test': ['93.184.215.14', '10.0.0.7'],
      'metadata.test': ['169.254.169.254'],
    });
    assert.equal((await validateTarget('https://public.test/h', strict, dns)).hostname, 'public.test');
    await assert.rejects(validateTarget('https://sneaky.test/h', strict, dns), /private/);
    await assert.rejects(validateTarget('http://metadata.test/latest', dev, dns), /linkLocal/);
    await assert.rejects(validateTarget('http://nowhere.test/', strict, dns), /does not resolve/);
    await assert.rejects(validateTarget('http://[::1]:8080/', strict, dns), /loopback/);
    await assert.rejects(validateTarget('http://169.254.169.254/', dev, dns), /linkLocal/);
  });

  it('checks the address actually connected to (DNS rebinding): localhost refused at lookup', async () => {
    const lookup = guardedLookup(strict);
    const error = await new Promise<unknown>((resolve) => lookup('localhost', {}, (e) => resolve(e)));
    assert.ok(error instanceof TargetError);
    const ok = await new Promise<unknown>((resolve) =>
      guardedLookup(dev)('localhost', {}, (e, a) => resolve(e ?? a)),
    );
    assert.match(String(ok), /^(127\.0\.0\.1|::1)$/);
  });
});
