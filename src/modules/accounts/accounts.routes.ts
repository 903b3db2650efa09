import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../shared/access.js';
import {
  forbidden,
  idempotencyKeyInFlight,
  idempotencyKeyReused,
  insufficientFunds,
  notFound,
} from '../../shared/errors.js';
import { refuseOtherMethods } from '../../shared/http.js';
import { fromCents } from '../../shared/money.js';
import { problems, success } from '../../shared/openapi.js';
import { moneyToCents } from '../../shared/schemas.js';
import { IdempotencyKeyHeaders, unquoteIdempotencyKey } from '../recharges/index.js';
import type { AccountRecord, EntryRecord } from './accounts.repository.js';
import {
  type Account,
  AccountLimitsInputSchema,
  AccountQuerySchema,
  AccountSchema,
  ClientSchema,
  DEFAULT_PAGE_SIZE,
  type LedgerEntry,
  LedgerEntryInputSchema,
  LedgerEntrySchema,
  LedgerQuerySchema,
} from './accounts.schemas.js';
import type { AccountService } from './accounts.service.js';

const ACCOUNTS = '/Accounts';
const ENTRIES = '/LedgerEntries';
const NO_ACCOUNT = notFound('client shop_b has no account (it has never had a key)');

export const accountRoutes: FastifyPluginAsyncTypebox<{ service: AccountService }> = async (
  app,
  { service },
) => {
  for (const schema of [AccountSchema, AccountLimitsInputSchema, LedgerEntryInputSchema, LedgerEntrySchema])
    app.addSchema(schema);
  const AccountRef = Type.Ref(AccountSchema);
  const EntryRef = Type.Ref(LedgerEntrySchema);

  app.get(
    ACCOUNTS,
    {
      config: { scope: 'accounts:read' },
      schema: {
        tags: ['accounts'],
        summary: 'Your account; an admin: every account, or the one of ?client',
        operationId: 'getAccounts',
        querystring: AccountQuerySchema,
        response: {
          200: success(
            Type.Union([AccountRef, Type.Array(AccountRef)]),
            'The account, or every account by client',
          ),
          ...problems(forbidden('admin'), NO_ACCOUNT),
        },
      },
    },
    async (request) => {
      const found = await service.read(principalOf(request), request.query.client);
      return Array.isArray(found) ? found.map(accountToApi) : accountToApi(found);
    },
  );

  app.put(
    ACCOUNTS,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: "Set an account's credit limit and velocity limits (admin)",
        operationId: 'replaceAccountLimits',
        querystring: Type.Object({ client: ClientSchema }, { additionalProperties: false }),
        body: Type.Ref(AccountLimitsInputSchema),
        response: { 200: success(AccountRef, 'The account as it is now'), ...problems(NO_ACCOUNT) },
      },
    },
    async (request) => {
      const { credit_limit: creditLimit, limits } = request.body;
      const account = await service.setLimits(
        request.query.client,
        {
          credit_limit_cents: creditLimit === null ? null : moneyToCents(creditLimit, '/credit_limit'),
          daily_value_cents:
            limits.daily_value === null ? null : moneyToCents(limits.daily_value, '/limits/daily_value'),
          daily_count: limits.daily_count,
          // null and 0 both mean no cooldown; the column keeps 0.
          same_phone_cooldown_seconds: limits.same_phone_cooldown_seconds ?? 0,
        },
        principalOf(request),
      );
      return accountToApi(account);
    },
  );
  refuseOtherMethods(app, ACCOUNTS, ['GET', 'HEAD', 'PUT']);

  app.post(
    ENTRIES,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: 'Enter a deposit or an adjustment (admin); Idempotency-Key makes retries safe',
        operationId: 'createLedgerEntry',
        description:
          'Idempotency-Key works as on POST /PhoneRecharges: the same key and body answer the first entry with ' +
          '`Idempotent-Replayed: true`; another body, 422 `idempotency_key_reused`; while the first is being ' +
          'entered, 409. An adjustment that would take the balance below the credit limit: 422 `insufficient_funds`.',
        headers: IdempotencyKeyHeaders,
        body: Type.Ref(LedgerEntryInputSchema),
        response: {
          201: success(EntryRef, 'The entry (or, replayed, the first one)', 'Idempotent-Replayed'),
          ...problems(
            NO_ACCOUNT,
            idempotencyKeyInFlight(),
            idempotencyKeyReused(),
            insufficientFunds('an adjustment of -50.00 would take shop_a below its credit limit'),
          ),
        },
      },
      preValidation: (request, _reply, done) => {
        unquoteIdempotencyKey(request.headers['idempotency-key']);
        done();
      },
    },
    async (request, reply) => {
      const { client, type, amount, note } = request.body;
      const { entry, replayed } = await service.enter(
        { client, type, amount_cents: moneyToCents(amount, '/amount'), note: note ?? null },
        principalOf(request),
        unquoteIdempotencyKey(request.headers['idempotency-key']),
      );
      reply.code(201);
      if (replayed) reply.header('idempotent-replayed', 'true');
      return entryToApi(entry);
    },
  );

  app.get(
    ENTRIES,
    {
      config: { scope: 'accounts:read' },
      schema: {
        tags: ['accounts'],
        summary: 'Ledger entries, newest first: yours; an admin: of ?client, or of every client',
        operationId: 'listLedgerEntries',
        querystring: LedgerQuerySchema,
        response: {
          200: success(Type.Array(EntryRef), 'A page of entries', 'Link'),
          ...problems(forbidden('admin')),
        },
      },
    },
    async (request, reply) => {
      const { client, limit = DEFAULT_PAGE_SIZE, cursor } = request.query;
      const page = await service.listEntries(principalOf(request), limit, client, cursor);
      if (page.nextCursor) {
        const whose = client === undefined ? '' : `client=${client}&`;
        reply.header('link', `<${ENTRIES}?${whose}limit=${limit}&cursor=${page.nextCursor}>; rel="next"`);
      }
      return page.items.map(entryToApi);
    },
  );
  refuseOtherMethods(app, ENTRIES, ['GET', 'HEAD', 'POST']);
};

/** An account as the API shows it. */
export function accountToApi(account: AccountRecord): Account {
  const creditLimit = account.credit_limit_cents;
  return {
    client: account.client,
    balance: fromCents(account.balance_cents),
    pending: fromCents(account.pending_cents),
    credit_limit: creditLimit === null ? null : fromCents(creditLimit),
    available: creditLimit === null ? null : fromCents(account.balance_cents + creditLimit),
    limits: {
      daily_value: account.daily_value_cents === null ? null : fromCents(account.daily_value_cents),
      daily_count: account.daily_count,
      same_phone_cooldown_seconds: account.same_phone_cooldown_seconds,
    },
    updated_at: account.updated_at.toISOString(),
  };
}

/** A ledger entry as the API shows it. */
export function entryToApi(entry: EntryRecord): LedgerEntry {
  return {
    id: entry.id,
    client: entry.client,
    type: entry.type,
    amount: fromCents(entry.amount_cents),
    balance_after: fromCents(entry.balance_after_cents),
    recharge_id: entry.recharge_id,
    note: entry.note,
    created_at: entry.created_at.toISOString(),
  };
}
