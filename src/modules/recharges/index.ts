export { createRechargeRepository, type RechargeRepository } from './recharges.repository.js';
export { rechargeRoutes } from './recharges.routes.js';
export { RechargeInputSchema, RechargeSchema } from './recharges.schemas.js';
export { createRechargeService, type RechargeService } from './recharges.service.js';
