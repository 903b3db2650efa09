export { createAccountServiceOn } from './accounts.module.js';
export { type AccountRepository, createAccountRepository } from './accounts.repository.js';
export { accountRoutes, accountToApi, entryToApi } from './accounts.routes.js';
export { type AccountService, createAccountService, type NewEntry } from './accounts.service.js';
export { refundCtes } from './ledger.sql.js';
