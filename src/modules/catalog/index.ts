export { type CatalogRecord, type CatalogRepository, createCatalogRepository } from './catalog.repository.js';
export { catalogRoutes } from './catalog.routes.js';
export { CatalogSchema } from './catalog.schemas.js';
export { type CatalogService, createCatalogService } from './catalog.service.js';
