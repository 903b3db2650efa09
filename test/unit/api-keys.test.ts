import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  digestOf,
  digestsEqual,
  digestText,
  generateApiKey,
  keyIdOf,
} from '../../src/modules/api-keys/api-keys.crypto.js';
import type { ApiKeyRepository, StoredKey } from '../../src/modules/api-keys/api-keys.repository.js';
import { createApiKeyService } from '../../src/modules/api-keys/api-keys.service.js';
import { createLocalRevocationBus } from '../../src/modules/api-keys/revocations.js';
import type { AuditRepository } from '../../src/modules/audit/index.js';
import type { Principal } from '../../src/shared/access.js';

const KEY_PATTERN = /^rk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

describe('generateApiKey', () => {
  it('when a key is generated, then it is rk_<id>_<secret> with a 256-bit secret and its SHA-256', () => {
    const { id, key, hash } = generateApiKey();
    expect(key).toMatch(KEY_PATTERN);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(key.startsWith(`rk_${id}_`)).toBe(true);
    const secret = key.slice(`rk_${id}_`.length);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(Buffer.from(hash)).toEqual(createHash('sha256').update(key).digest());
  });

  it('when many keys are generated, then no id and no secret repeats', () => {
    const keys = Array.from({ length: 2000 }, () => generateApiKey());
    expect(new Set(keys.map(({ id }) => id)).size).toBe(keys.length);
    expect(new Set(keys.map(({ key }) => key.slice(20))).size).toBe(keys.length);
  });
});

describe('keyIdOf', () => {
  it('when the key is well formed, then its id', () => {
    const { id, key } = generateApiKey();
    expect(keyIdOf(key)).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['the prefix alone', 'rk_'],
    ['an upper-case prefix', `RK_0123456789abcdef_${'a'.repeat(43)}`],
    ['an upper-case id', `rk_0123456789ABCDEF_${'a'.repeat(43)}`],
    ['a short id', `rk_0123456789abcde_${'a'.repeat(43)}`],
    ['a short secret', `rk_0123456789abcdef_${'a'.repeat(42)}`],
    ['a long secret', `rk_0123456789abcdef_${'a'.repeat(44)}`],
    ['base64 padding', `rk_0123456789abcdef_${'a'.repeat(42)}=`],
    ['a plus sign', `rk_0123456789abcdef_${'a'.repeat(42)}+`],
    ['a trailing newline', `rk_0123456789abcdef_${'a'.repeat(43)}\n`],
    ['a leading space', ` rk_0123456789abcdef_${'a'.repeat(43)}`],
    ['the admin key of the tests', 'test-admin-key-0123456789abcdefghijklmnopqrstuv'],
  ])('when the token has %s, then null', (_name, token) => {
    expect(keyIdOf(token)).toBeNull();
  });

  it('when the input is any string at all, then it never throws and finds an id only in a well-formed key', () => {
    // fc.string({ unit: 'binary' }) is fast-check 4's fullUnicodeString, lone surrogates included.
    for (const strings of [fc.string(), fc.string({ unit: 'binary' }), fc.string({ maxLength: 2000 })]) {
      fc.assert(
        fc.property(strings, (token) => {
          const id = keyIdOf(token);
          expect(id === null || KEY_PATTERN.test(token)).toBe(true);
        }),
      );
    }
  });

  it('when one character of a valid key changes outside the alphabet, then null', () => {
    const { key } = generateApiKey();
    fc.assert(
      fc.property(
        fc.nat({ max: key.length - 1 }),
        fc.constantFrom('!', ' ', '=', '/', 'é', '\0'),
        (at, c) => {
          expect(keyIdOf(key.slice(0, at) + c + key.slice(at + 1))).toBeNull();
        },
      ),
    );
  });
});

describe('digestOf and digestsEqual', () => {
  it('when two digests are of the same key, then equal; of different keys, not', () => {
    const { key } = generateApiKey();
    expect(digestsEqual(digestOf(key), digestOf(key))).toBe(true);
    expect(digestsEqual(digestOf(key), digestOf(`${key}x`))).toBe(false);
  });

  it('when a key is generated, then the text of its stored hash is the digest of the key', () => {
    const { key, hash } = generateApiKey();
    expect(digestText(hash)).toBe(digestOf(key));
    expect(digestOf(key)).toHaveLength(43); // 32 bytes in base64url, unpadded
  });

  it('when the lengths differ, then false; two empty strings are equal', () => {
    expect(digestsEqual('a'.repeat(43), 'a'.repeat(42))).toBe(false);
    expect(digestsEqual('', '')).toBe(true);
  });

  it('when two strings differ in any one character, then they are not equal', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 1 }),
        (a, at, c) => {
          const index = at % a.length;
          const b = `${a.slice(0, index)}${c}${a.slice(index + 1)}`;
          expect(digestsEqual(a, b)).toBe(a === b);
        },
      ),
    );
  });

  it('when any two strings are hashed, then equal digests exactly when the strings are equal', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        // Lone surrogates become U+FFFD in UTF-8, so compare what is hashed.
        const same = Buffer.from(a, 'utf8').equals(Buffer.from(b, 'utf8'));
        expect(digestsEqual(digestOf(a), digestOf(b))).toBe(same);
      }),
    );
  });
});

/** A key service on a fake repository that counts its look-ups and answers them when the test says. */
function serviceWithStoredKey(options: { adminApiKey?: string; now?: () => number } = {}) {
  const generated = generateApiKey();
  const stored: StoredKey = {
    id: generated.id,
    name: 'shop',
    client: 'shop',
    scopes: ['recharges:read'],
    created_at: new Date('2026-01-01T00:00:00.000Z'),
    key_hash: generated.hash,
  };
  let isRevoked = false;
  let gate: Promise<void> | undefined;
  const findActive = vi.fn(async (id: string) => {
    const answer = id === stored.id && !isRevoked ? stored : null;
    await gate;
    return answer;
  });
  const keys = { findActive, revoke: async () => stored } as unknown as ApiKeyRepository;
  const audit = { append: async () => {} } as unknown as AuditRepository;
  const revocations = createLocalRevocationBus();
  const service = createApiKeyService({
    keys,
    transaction: (work) => work({ keys, audit }),
    revocations,
    ...options,
  });
  const principal: Principal = { keyId: stored.id, client: 'shop', scopes: ['recharges:read'] };
  return {
    service,
    key: generated.key,
    principal,
    findActive,
    revocations,
    revoke: () => {
      isRevoked = true;
    },
    /** Holds the next look-ups until the returned function is called. */
    holdLookUps: () => {
      let release = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

describe('authenticate', () => {
  it('when a known key is used again, then it is served from memory, at once, without a repository look-up', async () => {
    const s = serviceWithStoredKey();
    const first = s.service.authenticate(s.key);
    expect(first).toBeInstanceOf(Promise); // the repository is asked
    expect(await first).toEqual(s.principal);
    // No promise at all: the auth hook then lets the request on without a trip through the microtask queue.
    expect(s.service.authenticate(s.key)).toEqual(s.principal);
    expect(s.service.authenticate(s.key)).toEqual(s.principal);
    expect(s.findActive).toHaveBeenCalledTimes(1);
  });

  it('when the secret is wrong for a cached id, then null and still no look-up', async () => {
    const s = serviceWithStoredKey();
    await s.service.authenticate(s.key);
    const wrong = `${s.key.slice(0, 20)}${s.key.at(20) === 'A' ? 'B' : 'A'}${s.key.slice(21)}`;
    expect(await s.service.authenticate(wrong)).toBeNull();
    expect(s.findActive).toHaveBeenCalledTimes(1);
  });

  it('when the token is not a well-formed key, then null without a look-up', async () => {
    const s = serviceWithStoredKey();
    expect(await s.service.authenticate('garbage')).toBeNull();
    expect(s.findActive).not.toHaveBeenCalled();
  });

  it('when the bootstrap admin key is used, then the admin principal at once, without a look-up', async () => {
    const s = serviceWithStoredKey({ adminApiKey: 'x'.repeat(40) });
    expect(s.service.authenticate('x'.repeat(40))).toEqual({
      keyId: 'bootstrap',
      client: 'admin',
      scopes: ['admin'],
    });
    expect(await s.service.authenticate('x'.repeat(39))).toBeNull();
    expect(s.findActive).not.toHaveBeenCalled();
  });

  it('when the cached entry is older than its TTL, then the key is looked up again', async () => {
    let nowMs = 0;
    const s = serviceWithStoredKey({ now: () => nowMs });
    await s.service.authenticate(s.key);
    nowMs = 59_999;
    await s.service.authenticate(s.key);
    expect(s.findActive).toHaveBeenCalledTimes(1);
    nowMs = 60_000;
    s.revoke();
    expect(await s.service.authenticate(s.key)).toBeNull();
    expect(s.findActive).toHaveBeenCalledTimes(2);
  });

  it('when a revocation is broadcast, then the next request with the key is refused', async () => {
    const s = serviceWithStoredKey();
    await s.service.authenticate(s.key);
    s.revoke();
    await s.revocations.publish(s.principal.keyId);
    expect(await s.service.authenticate(s.key)).toBeNull();
  });

  it('when a revocation arrives while the key is being looked up, then the stale row is not cached', async () => {
    const s = serviceWithStoredKey();
    const release = s.holdLookUps();
    // This look-up read the row before the revocation committed, and answers after it was broadcast.
    const inFlight = s.service.authenticate(s.key);
    s.revoke();
    await s.service.revokeKey(s.principal.keyId, s.principal);
    release();
    await inFlight;
    expect(await s.service.authenticate(s.key)).toBeNull();
  });
});
