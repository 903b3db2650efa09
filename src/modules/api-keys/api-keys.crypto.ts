import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

// `rk_` marks a recharge-api key wherever it leaks (logs, repositories, tickets); the id that follows is
// public and finds the row; the secret is 256 random bits.
const PREFIX = 'rk_';
const KEY_PATTERN = /^rk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

export type GeneratedKey = { id: string; key: string; hash: Uint8Array };

export function generateApiKey(): GeneratedKey {
  const id = randomBytes(8).toString('hex');
  const key = `${PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, hash: hashApiKey(key) };
}

/** The key id of a well-formed key, or null; never throws, whatever the input. */
export function keyIdOf(token: string): string | null {
  return KEY_PATTERN.exec(token)?.[1] ?? null;
}

/** SHA-256 of the key, in one call: no Hash object per request (Node.js ≥ 20.12). */
export function hashApiKey(key: string): Uint8Array {
  return hash('sha256', key, 'buffer');
}

/** Compares two SHA-256 digests in constant time; digests of any input have equal lengths. */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
