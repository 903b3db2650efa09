import type { UnitOfWork } from '../../db/unit-of-work.js';
import type { Principal, Scope } from '../../shared/access.js';
import { invalidRequest, notFound } from '../../shared/errors.js';
import { andThen, type MaybePromise } from '../../shared/sync-first.js';
import type { AuditRepository } from '../audit/index.js';
import { digestOf, digestsEqual, digestText, generateApiKey, keyIdOf } from './api-keys.crypto.js';
import type { ApiKeyRecord, ApiKeyRepository } from './api-keys.repository.js';
import type { RevocationBus } from './revocations.js';

export const BOOTSTRAP_KEY_ID = 'bootstrap';
/**
 * The client the bootstrap key (ADMIN_API_KEY) acts for. No other key may act for it, in any case of its
 * letters: a key of client `admin`, even without the admin scope, would read the bootstrap key's recharges.
 */
export const ADMIN_CLIENT = 'admin';
const CACHE_TTL_MS = 60_000;
const CACHE_MAX_ENTRIES = 10_000;

type CachedKey = { principal: Principal; digest: string; expiresAt: number };

export type NewApiKey = { name: string; client?: string | undefined; scopes: Scope[] };

export function createApiKeyService({
  keys,
  transaction,
  revocations,
  adminApiKey,
  now = Date.now,
}: {
  keys: ApiKeyRepository;
  transaction: UnitOfWork<{ keys: ApiKeyRepository; audit: AuditRepository }>;
  revocations: RevocationBus;
  adminApiKey?: string | undefined;
  now?: () => number;
}) {
  const adminDigest = adminApiKey === undefined ? undefined : digestOf(adminApiKey);
  const adminPrincipal: Principal = { keyId: BOOTSTRAP_KEY_ID, client: ADMIN_CLIENT, scopes: ['admin'] };
  // Known keys are served from memory: authenticating them costs no database round trip.
  const cache = new Map<string, CachedKey>();
  // Counts revocations seen, so a look-up that a revocation overtook does not cache the row it read before.
  let revocationsSeen = 0;
  // null: messages may have been missed (Redis away), so nothing cached can be trusted.
  const forget = (keyId: string | null) => {
    revocationsSeen += 1;
    if (keyId === null) cache.clear();
    else cache.delete(keyId);
  };
  revocations.subscribe(forget);

  function lookUp(keyId: string): MaybePromise<CachedKey | null> {
    const cached = cache.get(keyId);
    return cached && cached.expiresAt > now() ? cached : load(keyId);
  }

  async function load(keyId: string): Promise<CachedKey | null> {
    const seenBefore = revocationsSeen;
    const stored = await keys.findActive(keyId);
    if (!stored) {
      cache.delete(keyId);
      return null;
    }
    if (cache.size >= CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
    const entry = {
      principal: { keyId: stored.id, client: stored.client, scopes: stored.scopes },
      digest: digestText(stored.key_hash),
      expiresAt: now() + CACHE_TTL_MS,
    };
    // Cut off from the revocations (Redis away), this instance would not hear of one: it reads the
    // database on every request until it hears again, rather than trusting an entry for a minute.
    if (revocationsSeen === seenBefore && revocations.isListening()) cache.set(keyId, entry);
    return entry;
  }

  return {
    /**
     * The principal a bearer token stands for, or null for every kind of bad token: at once for the admin
     * key and keys known in memory, after a database read otherwise.
     */
    authenticate(token: string): MaybePromise<Principal | null> {
      const digest = digestOf(token);
      if (adminDigest && digestsEqual(digest, adminDigest)) return adminPrincipal;
      const keyId = keyIdOf(token);
      if (keyId === null) return null;
      return andThen(lookUp(keyId), (entry) =>
        entry && digestsEqual(digest, entry.digest) ? entry.principal : null,
      );
    },

    /** Creates a key; the plain key is in the result once and nowhere else. */
    async createKey(input: NewApiKey, actor: Principal): Promise<{ record: ApiKeyRecord; key: string }> {
      const generated = generateApiKey();
      const record = await transaction(async ({ keys, audit }) => {
        const inserted = await keys.insert({
          id: generated.id,
          name: input.name,
          client: clientOf(input),
          scopes: [...new Set(input.scopes)],
          key_hash: generated.hash,
          created_by: actor.keyId,
        });
        await audit.append(actor, 'api_key.create', inserted.id, null, inserted);
        return inserted;
      });
      return { record, key: generated.key };
    },

    listKeys(): Promise<ApiKeyRecord[]> {
      return keys.listActive();
    },

    /** Revokes a key and returns once every instance refuses it. */
    async revokeKey(id: string, actor: Principal): Promise<void> {
      await transaction(async ({ keys, audit }) => {
        const revoked = await keys.revoke(id);
        if (!revoked) {
          // Revoked already, perhaps by an instance whose broadcast did not reach this one.
          forget(id);
          throw notFound(`no active API key ${id}`);
        }
        await audit.append(actor, 'api_key.revoke', id, revoked, null);
      });
      forget(id);
      await revocations.publish(id);
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;

const CLIENT = /^[A-Za-z0-9_-]{1,64}$/;

/** The client a new key acts for: the one given, else its name when the name can be one. */
function clientOf(input: NewApiKey): string {
  const client = input.client ?? input.name;
  if (!CLIENT.test(client)) {
    throw invalidRequest('client is required when the name is not a valid client id', [
      { path: '/client', message: 'give a client of 1–64 characters of A-Z a-z 0-9 _ -' },
    ]);
  }
  if (client.toLowerCase() === ADMIN_CLIENT) {
    const given = input.client === undefined ? `the client defaults to the name, and ${client}` : client;
    throw invalidRequest(`${given} is reserved for the bootstrap admin key: give another client`, [
      { path: '/client', message: `must not be ${ADMIN_CLIENT}` },
    ]);
  }
  return client;
}
