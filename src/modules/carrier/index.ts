export type { Carrier, SendOutcome, StatusOutcome, TopUp } from './carrier.port.js';
export { createHttpCarrier } from './http-carrier.js';
export { createSandboxCarrier, type SandboxCarrier } from './sandbox-carrier.js';
export { sandboxCarrierRoutes } from './sandbox-carrier.routes.js';
