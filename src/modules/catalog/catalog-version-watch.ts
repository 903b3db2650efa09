import type { FastifyBaseLogger } from 'fastify';
import type { CatalogCache } from '../../cache/catalog-cache.js';
import type { CatalogRepository } from './catalog.repository.js';

/**
 * Reads the committed catalog version every `everyMs` and hands it to the cache, so that a write whose
 * Redis announcement never reached this instance (the writer had lost Redis; instances run without Redis)
 * stops being answered from an older cached catalog within one interval. The announcement stays the fast
 * path; this is the bound when it fails. Off the request path: one small query per interval per instance.
 */
export function watchCatalogVersion({
  catalogs,
  cache,
  everyMs,
  log,
}: {
  catalogs: Pick<CatalogRepository, 'currentVersion'>;
  cache: Pick<CatalogCache, 'observe'>;
  everyMs: number;
  log: FastifyBaseLogger;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return; // a slow database: one read at a time
    running = catalogs
      .currentVersion()
      .then((version) => cache.observe(version))
      // The database away is reported by /readyz and the requests that need it; the next tick retries.
      .catch((error: unknown) => log.debug({ err: error }, 'catalog version poll failed'))
      .finally(() => {
        running = undefined;
      });
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
