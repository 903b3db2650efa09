import type { Kysely } from 'kysely';
import type { DB } from '../../db/database.js';
import { createUnitOfWork } from '../../db/unit-of-work.js';
import { createAuditRepository } from '../audit/index.js';
import { createAccountRepository } from './accounts.repository.js';
import { createAccountService } from './accounts.service.js';

/** The account service on a database: the same wiring for the server and the operators' CLI. */
export function createAccountServiceOn(db: Kysely<DB>) {
  return createAccountService({
    accounts: createAccountRepository(db),
    transaction: createUnitOfWork(db, (trx) => ({
      accounts: createAccountRepository(trx),
      audit: createAuditRepository(trx),
    })),
  });
}
