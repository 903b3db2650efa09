import type { Kysely } from 'kysely';
import type { DB } from '../../db/database.js';
import { createUnitOfWork } from '../../db/unit-of-work.js';
import { createAuditRepository } from '../audit/index.js';
import { createApiKeyRepository } from './api-keys.repository.js';
import { createApiKeyService } from './api-keys.service.js';
import type { RevocationBus } from './revocations.js';

/** The key service on a database: the same wiring for the server and the operators' CLI. */
export function createApiKeyServiceOn(
  db: Kysely<DB>,
  { revocations, adminApiKey }: { revocations: RevocationBus; adminApiKey?: string | undefined },
) {
  return createApiKeyService({
    keys: createApiKeyRepository(db),
    transaction: createUnitOfWork(db, (trx) => ({
      keys: createApiKeyRepository(trx),
      audit: createAuditRepository(trx),
    })),
    revocations,
    adminApiKey,
  });
}
