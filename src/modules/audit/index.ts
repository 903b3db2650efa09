export {
  type AuditAction,
  type AuditEvent,
  type AuditRepository,
  createAuditRepository,
} from './audit.repository.js';
export { auditRoutes } from './audit.routes.js';
