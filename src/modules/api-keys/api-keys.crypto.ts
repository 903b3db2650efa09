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

/**
 * SHA-256 of the key as base64url text, what every request compares: a string costs no ArrayBuffer (a
 * digest as bytes is a new backing store per request), and the stored bytes are turned into one once.
 */
export function digestOf(key: string): string {
  return hash('sha256', key, 'base64url');
}

/** The text form of a stored hash, as `digestOf` gives it. */
export function digestText(storedHash: Uint8Array): string {
  return Buffer.from(storedHash).toString('base64url');
}

/**
 * Compares two digests in constant time (Node's `timingSafeEqual`); digests of any input have equal
 * lengths, so only a malformed one is refused early. What is compared are hashes, never the keys.
 */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  // base64url text is ASCII: one byte a character, and small buffers come from Node's shared pool.
  return timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}
