export { scheduleIdempotencyPurge } from './idempotency-purge.js';
export { createOutcomeWaiters, isFinal, type OutcomeWaiters } from './outcome-waiters.js';
export {
  createRechargeRepository,
  RECHARGE_COLUMNS,
  type RechargeRecord,
  type RechargeRepository,
} from './recharges.repository.js';
export { IdempotencyKeyHeaders, rechargeRoutes, toApi, unquoteIdempotencyKey } from './recharges.routes.js';
export { RechargeInputSchema, RechargeSchema } from './recharges.schemas.js';
export { createRechargeService, type RechargeService } from './recharges.service.js';
