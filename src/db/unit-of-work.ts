import type { Kysely } from 'kysely';
import type { DB } from './database.js';

/** Runs work in one transaction, with repositories bound to it; services stay free of SQL and Kysely. */
export type UnitOfWork<R> = <T>(work: (repositories: R) => Promise<T>) => Promise<T>;

export function createUnitOfWork<R>(db: Kysely<DB>, bind: (transaction: Kysely<DB>) => R): UnitOfWork<R> {
  return (work) => db.transaction().execute((transaction) => work(bind(transaction)));
}
