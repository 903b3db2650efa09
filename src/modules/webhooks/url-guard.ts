import { lookup as dnsLookup } from 'node:dns';
import { lookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Resolves a host name to its addresses (IPv4 and IPv6). Tests inject one. */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

export type UrlGuardOptions = {
  /** Only https URLs (production). */
  requireHttps: boolean;
  /** Private, loopback and link-local addresses allowed (development and tests). */
  allowPrivate: boolean;
  resolve?: Resolver;
};

export type UrlVerdict = { allowed: true; address: string } | { allowed: false; reason: string };

/**
 * Which webhook URLs may be called: an address on the public internet, never one inside the network the
 * service runs in (server-side request forgery). The host is resolved and refused when any of its addresses
 * is not public unicast: loopback, private, link-local (cloud metadata at 169.254.169.254 among them),
 * carrier-grade NAT, unique-local IPv6, IPv4-mapped IPv6 and every other special range. A connection goes
 * to the address that was checked (`lookup`), so a DNS answer that changes in between is never used.
 */
export function createUrlGuard({ requireHttps, allowPrivate, resolve = systemResolver }: UrlGuardOptions) {
  /** What can be told without resolving: the scheme, credentials, and a host that is an address. */
  function inspect(url: string): { host: string } | { refused: string } {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { refused: 'is not a URL' };
    }
    if (parsed.protocol !== 'https:' && (requireHttps || parsed.protocol !== 'http:')) {
      return { refused: requireHttps ? 'must be https' : 'must be http or https' };
    }
    if (parsed.username || parsed.password) return { refused: 'must not carry credentials' };
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!allowPrivate && ipaddr.isValid(host) && !isPublic(host)) {
      return { refused: `host ${host} is not a public address` };
    }
    return { host };
  }

  /** The address to connect to for `host`: resolved once, and only when every address is public. */
  async function addressOf(host: string): Promise<UrlVerdict> {
    let addresses: string[];
    try {
      addresses = ipaddr.isValid(host) ? [host] : await resolve(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) return { allowed: false, reason: `host ${host} does not resolve` };
    if (!addresses.every(isPublic)) {
      return { allowed: false, reason: `host ${host} resolves to a non-public address` };
    }
    return { allowed: true, address: addresses[0] as string };
  }

  const verdictOf = (inspected: ReturnType<typeof inspect>): UrlVerdict =>
    'refused' in inspected
      ? { allowed: false, reason: inspected.refused }
      : { allowed: true, address: inspected.host };

  return {
    /** Whether a URL may be registered; with private addresses allowed, its host is not resolved. */
    async check(url: string): Promise<UrlVerdict> {
      const inspected = inspect(url);
      if ('refused' in inspected || allowPrivate) return verdictOf(inspected);
      return addressOf(inspected.host);
    },

    /**
     * The checks that need no DNS, made before every attempt; the attempt's connection then resolves the
     * host through `lookup`, which checks its addresses.
     */
    precheck: (url: string): UrlVerdict => verdictOf(inspect(url)),

    /**
     * A `lookup` for net.connect that answers with the one address it checked, so the connection goes
     * where the check looked and nowhere else.
     */
    lookup(): LookupFunction {
      if (allowPrivate) return (hostname, options, callback) => dnsLookup(hostname, options, callback);
      return (hostname, options, callback) => {
        addressOf(hostname).then(
          (verdict) => {
            if (!verdict.allowed) {
              const error = Object.assign(new Error(`webhook URL refused: ${verdict.reason}`), {
                code: 'EREFUSED',
              });
              callback(error, '', 4);
              return;
            }
            const family = ipaddr.parse(verdict.address).kind() === 'ipv6' ? 6 : 4;
            // net.connect asks for every address (autoSelectFamily); the one checked is all there is.
            if (options.all) callback(null, [{ address: verdict.address, family }]);
            else callback(null, verdict.address, family);
          },
          (error: Error) => callback(error as NodeJS.ErrnoException, '', 4),
        );
      };
    },
  };
}

export type UrlGuard = ReturnType<typeof createUrlGuard>;

/** Public unicast only: ipaddr.js names every special-purpose range, and only plain unicast is let through. */
export function isPublic(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.parse(address).range() === 'unicast';
}
