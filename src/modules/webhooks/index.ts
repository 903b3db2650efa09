export { createDeliveryEngine, type DeliveryEngine, messageBody } from './delivery.js';
export {
  type AttemptOutcome,
  type ClaimedMessage,
  createDeliveryRepository,
  type DeliveryRepository,
} from './delivery.repository.js';
export { announceCte } from './messages.sql.js';
export { signatureHeader } from './signing.js';
export { createUrlGuard, type Resolver, type UrlGuard } from './url-guard.js';
export { createWebhookRepository, type WebhookRepository } from './webhooks.repository.js';
export { webhookRoutes } from './webhooks.routes.js';
export { createWebhookService, type WebhookService } from './webhooks.service.js';
