import { describe, expect, it } from 'vitest';
import { createUrlGuard, isPublic, type Resolver } from '../../src/modules/webhooks/url-guard.js';

const NOT_PUBLIC = [
  '127.0.0.1', // loopback
  '10.1.2.3', // private
  '172.16.0.1',
  '192.168.1.1',
  '169.254.169.254', // link-local: the cloud metadata address
  '100.64.0.1', // carrier-grade NAT
  '0.0.0.0',
  '::1',
  'fd00:ec2::254', // unique-local IPv6 (AWS's IPv6 metadata address)
  'fe80::1',
  '::ffff:127.0.0.1', // IPv4-mapped
  '::ffff:8.8.8.8',
  '64:ff9b::a00:1', // NAT64 of a private address
  '2002:a00:1::1', // 6to4
  '224.0.0.1', // multicast
];

function resolverOf(table: Record<string, string[]>, calls: string[] = []): Resolver {
  return async (host) => {
    calls.push(host);
    const addresses = table[host];
    if (!addresses) throw new Error('ENOTFOUND');
    return addresses;
  };
}

/** Runs a guard's connection lookup as net.connect would, and answers what it gave. */
function connectLookup(guard: ReturnType<typeof createUrlGuard>, host: string) {
  return new Promise<{ error: Error | null; address: string; family: number }>((resolve) => {
    guard.lookup()(host, {}, (error, address, family) =>
      resolve({ error, address: String(address), family: Number(family) }),
    );
  });
}

describe('the webhook URL guard', () => {
  it.each(NOT_PUBLIC)('when an address is %s, then it is not public', (address) => {
    expect(isPublic(address)).toBe(false);
  });

  it.each(['8.8.8.8', '2606:4700:4700::1111', '151.101.1.69'])(
    'when an address is %s, then it is public',
    (address) => {
      expect(isPublic(address)).toBe(true);
    },
  );

  it('when a host resolves to any non-public address, then its URL is refused', async () => {
    const guard = createUrlGuard({
      requireHttps: true,
      allowPrivate: false,
      resolve: resolverOf({
        'hooks.example.com': ['93.184.215.14'],
        'mixed.example.com': ['93.184.215.14', '10.0.0.7'],
        'metadata.example.com': ['169.254.169.254'],
        'v6.example.com': ['fd00::1'],
      }),
    });
    expect(await guard.check('https://hooks.example.com/x')).toEqual({
      allowed: true,
      address: '93.184.215.14',
    });
    expect(await guard.check('https://mixed.example.com/x')).toMatchObject({ allowed: false });
    expect(await guard.check('https://metadata.example.com/x')).toMatchObject({ allowed: false });
    expect(await guard.check('https://v6.example.com/x')).toMatchObject({ allowed: false });
    expect(await guard.check('https://unknown.example.com/x')).toEqual({
      allowed: false,
      reason: 'host unknown.example.com does not resolve',
    });
    expect(await guard.check('http://hooks.example.com/x')).toEqual({
      allowed: false,
      reason: 'must be https',
    });
    expect(await guard.check('https://user:pw@hooks.example.com/x')).toMatchObject({ allowed: false });
    expect(await guard.check('https://127.0.0.1/x')).toMatchObject({ allowed: false });
    expect(await guard.check('https://[::ffff:169.254.169.254]/x')).toMatchObject({ allowed: false });
    expect(await guard.check('ftp://hooks.example.com/x')).toMatchObject({ allowed: false });
  });

  it('when a connection resolves the host, then it goes to the address just checked, from one lookup', async () => {
    const calls: string[] = [];
    const guard = createUrlGuard({
      requireHttps: true,
      allowPrivate: false,
      resolve: resolverOf({ 'hooks.example.com': ['93.184.215.14'] }, calls),
    });
    expect(await connectLookup(guard, 'hooks.example.com')).toEqual({
      error: null,
      address: '93.184.215.14',
      family: 4,
    });
    expect(calls).toEqual(['hooks.example.com']);
  });

  it('when a host is rebound to a private address after registration, then the attempt is refused', async () => {
    let answers = [['93.184.215.14'], ['127.0.0.1']];
    const guard = createUrlGuard({
      requireHttps: true,
      allowPrivate: false,
      resolve: async () => {
        const [next, ...rest] = answers;
        answers = rest.length > 0 ? rest : answers;
        return next ?? [];
      },
    });
    expect(await guard.check('https://rebind.example.com/x')).toMatchObject({ allowed: true });
    const attempt = await connectLookup(guard, 'rebind.example.com');
    expect(attempt.error?.message).toMatch(/non-public address/);
  });

  it('when private addresses are allowed (development), then any http or https URL is', async () => {
    const guard = createUrlGuard({ requireHttps: false, allowPrivate: true, resolve: resolverOf({}) });
    expect(await guard.check('http://127.0.0.1:8080/hooks')).toMatchObject({ allowed: true });
    expect(await guard.check('ftp://127.0.0.1/hooks')).toMatchObject({ allowed: false });
  });
});
