import type { FastifyBaseLogger } from 'fastify';
import type { CatalogService } from './modules/catalog/index.js';
import type { Principal } from './shared/access.js';

// Recorded as the author of the demo catalog in the audit trail.
const SEED_ACTOR: Principal = { keyId: 'seed', client: 'system', scopes: ['admin'] };

// The demo catalogs claro_11 and tim_11, loaded so a fresh `npm start` has something to sell.
const DEMO_CATALOGS = [
  {
    company_id: 'claro_11',
    products: [
      { id: 'claro_10', value_cents: 1000 },
      { id: 'claro_20', value_cents: 2000 },
    ],
  },
  {
    company_id: 'tim_11',
    products: [
      { id: 'tim_10', value_cents: 1000 },
      { id: 'tim_20', value_cents: 2000 },
    ],
  },
];

/** Loads the demo catalogs into an empty catalog; leaves any existing catalog alone. */
export async function seedDemoCatalogs(catalogs: CatalogService, log: FastifyBaseLogger): Promise<void> {
  const { value: existing } = await catalogs.listCatalogs();
  if (existing.length > 0) return;
  for (const catalog of DEMO_CATALOGS) {
    await catalogs.createCatalog(catalog, SEED_ACTOR).catch((error: unknown) => {
      // Another instance seeding at the same moment got there first.
      if ((error as { code?: string }).code !== 'conflict') throw error;
    });
  }
  log.info({ companies: DEMO_CATALOGS.map((catalog) => catalog.company_id) }, 'demo catalog loaded');
}
