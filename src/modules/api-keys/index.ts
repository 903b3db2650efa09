export { generateApiKey, keyIdOf } from './api-keys.crypto.js';
export { createApiKeyServiceOn } from './api-keys.module.js';
export { type ApiKeyRepository, createApiKeyRepository } from './api-keys.repository.js';
export { apiKeyRoutes } from './api-keys.routes.js';
export { NewApiKeySchema } from './api-keys.schemas.js';
export { type ApiKeyService, createApiKeyService, type NewApiKey } from './api-keys.service.js';
export { createLocalRevocationBus, createRedisRevocationBus, type RevocationBus } from './revocations.js';
