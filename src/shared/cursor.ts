import { invalidRequest } from './errors.js';

/**
 * A page of a listing read one row past its limit: the rows to answer, and the last of them when there is
 * a next page, whose key the listing's cursor carries.
 */
export function pageOf<T>(rows: T[], limit: number): { items: T[]; last: T | undefined } {
  const items = rows.slice(0, limit);
  return { items, last: rows.length > limit ? items.at(-1) : undefined };
}

/** An opaque cursor: the key of the last row served, as base64url JSON. */
export function encodeCursor(key: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * The key of a cursor from `encodeCursor`, which `read` checks and converts (undefined: not a key of this
 * listing). Anything else is a 400 naming /cursor.
 */
export function decodeCursor<K>(cursor: string, read: (key: unknown[]) => K | undefined): K {
  let key: K | undefined;
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(decoded)) key = read(decoded);
  } catch {
    // Not base64url JSON: refused below like any other bad cursor.
  }
  if (key === undefined) {
    throw invalidRequest('cursor is not one this API issued', [
      { path: '/cursor', message: 'invalid cursor' },
    ]);
  }
  return key;
}

const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The instant of a cursor's timestamp, as `toISOString` wrote it; undefined for anything else, an
 * impossible date included (`2024-02-30` would otherwise roll over to March).
 */
export function instantOf(text: unknown): Date | undefined {
  if (typeof text !== 'string' || !ISO_MILLIS.test(text)) return undefined;
  const date = new Date(text);
  return !Number.isNaN(date.getTime()) && date.toISOString() === text ? date : undefined;
}
