import { hash } from 'node:crypto';
import type { UnitOfWork } from '../../db/unit-of-work.js';
import { isAdmin, type Principal } from '../../shared/access.js';
import { decodeCursor, encodeCursor, pageOf } from '../../shared/cursor.js';
import {
  forbidden,
  idempotencyKeyInFlight,
  idempotencyKeyReused,
  insufficientFunds,
  invalidRequest,
  notFound,
} from '../../shared/errors.js';
import { formatCents } from '../../shared/money.js';
import type { AuditRepository } from '../audit/index.js';
import type { AccountLimits, AccountRecord, AccountRepository, EntryRecord } from './accounts.repository.js';

/** A deposit or an adjustment, as an operator asks for it. */
export type NewEntry = {
  client: string;
  type: 'deposit' | 'adjustment';
  amount_cents: number;
  note: string | null;
};

export type EntryPage = { items: EntryRecord[]; nextCursor: string | null };

type Repositories = { accounts: AccountRepository; audit: AuditRepository };

export function createAccountService({
  accounts,
  transaction,
}: {
  accounts: AccountRepository;
  transaction: UnitOfWork<Repositories>;
}) {
  async function requireAccount(client: string): Promise<AccountRecord> {
    const account = await accounts.find(client);
    if (!account) throw notFound(`client ${client} has no account (it has never had a key)`);
    return account;
  }

  return {
    /** The caller's own account; an admin's: every account, or the one of `client`. */
    async read(principal: Principal, client?: string): Promise<AccountRecord | AccountRecord[]> {
      if (client !== undefined) {
        if (!isAdmin(principal) && client !== principal.client) throw forbidden('admin');
        return requireAccount(client);
      }
      return isAdmin(principal) ? accounts.list() : requireAccount(principal.client);
    },

    /** Replaces an account's credit limit and velocity limits; in the audit trail with before and after. */
    setLimits(client: string, limits: AccountLimits, actor: Principal): Promise<AccountRecord> {
      return transaction(async ({ accounts, audit }) => {
        const changed = await accounts.setLimits(client, limits);
        if (!changed) throw notFound(`client ${client} has no account (it has never had a key)`);
        await audit.append(
          actor,
          'account.update',
          client,
          limitsOf(changed.before),
          limitsOf(changed.after),
        );
        return changed.after;
      });
    },

    /**
     * Enters a deposit or an adjustment, in the audit trail too. With an idempotency key it is entered once:
     * a repeat of the same request answers the first entry (`replayed`), a different one is refused.
     */
    async enter(
      input: NewEntry,
      actor: Principal,
      idempotencyKey?: string,
    ): Promise<{ entry: EntryRecord; replayed: boolean }> {
      requireAmount(input);
      const fingerprint = hash('sha256', JSON.stringify(input), 'hex');
      return transaction(async ({ accounts, audit }) => {
        if (idempotencyKey !== undefined) {
          if (!(await accounts.tryLockKey(actor.client, idempotencyKey))) throw idempotencyKeyInFlight();
          const bound = await accounts.findByKey(actor.client, idempotencyKey);
          if (bound) {
            if (bound.fingerprint !== fingerprint) throw idempotencyKeyReused();
            return { entry: bound.entry, replayed: true };
          }
        }
        const result = await accounts.enter(input.client, input.type, input.amount_cents, input.note);
        if (result.outcome === 'no_account') {
          throw notFound(`client ${input.client} has no account (it has never had a key)`);
        }
        if (result.outcome === 'below_credit_limit') {
          throw insufficientFunds(
            `an adjustment of ${formatCents(input.amount_cents)} would take ${input.client} below its credit limit`,
          );
        }
        const { entry } = result;
        if (idempotencyKey !== undefined) {
          await accounts.bindKey(actor.client, idempotencyKey, fingerprint, entry.id);
        }
        await audit.append(actor, `ledger.${input.type}`, input.client, null, entry);
        return { entry, replayed: false };
      });
    },

    /** Entries newest first: the caller's own, or an admin's of `client` (404 if it has no account) or of all. */
    async listEntries(
      principal: Principal,
      limit: number,
      client?: string,
      cursor?: string,
    ): Promise<EntryPage> {
      if (client !== undefined && !isAdmin(principal) && client !== principal.client)
        throw forbidden('admin');
      const whose = client ?? (isAdmin(principal) ? null : principal.client);
      const before = cursor === undefined ? undefined : readCursor(cursor);
      const { items, last } = pageOf(await accounts.listEntries(whose, limit + 1, before), limit);
      // A client named that has no entries may have no account either: that is a 404, as for GET /Accounts.
      if (items.length === 0 && client !== undefined) await requireAccount(client);
      return { items, nextCursor: last ? encodeCursor([last.id]) : null };
    },

    /** Forgets ledger idempotency keys older than the retention (their entries stay); returns how many. */
    purgeIdempotencyKeys(retentionMs: number, now = new Date()): Promise<number> {
      return accounts.purgeKeys(new Date(now.getTime() - retentionMs));
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;

function requireAmount({ type, amount_cents: cents, note }: NewEntry): void {
  if (type === 'deposit' && cents <= 0) {
    throw invalidRequest('a deposit is positive', [{ path: '/amount', message: 'must be above 0' }]);
  }
  if (type === 'adjustment' && cents === 0) {
    throw invalidRequest('an adjustment is not zero', [{ path: '/amount', message: 'must not be 0' }]);
  }
  if (type === 'adjustment' && (note === null || note.trim() === '')) {
    throw invalidRequest('an adjustment says why', [
      { path: '/note', message: 'is required for an adjustment' },
    ]);
  }
}

function limitsOf(account: AccountRecord) {
  return {
    credit_limit_cents: account.credit_limit_cents,
    daily_value_cents: account.daily_value_cents,
    daily_count: account.daily_count,
    same_phone_cooldown_seconds: account.same_phone_cooldown_seconds,
  };
}

const ENTRY_ID = /^[1-9][0-9]{0,17}$/;

function readCursor(cursor: string): string {
  return decodeCursor(cursor, (key) => {
    const [id] = key;
    return key.length === 1 && typeof id === 'string' && ENTRY_ID.test(id) ? id : undefined;
  });
}
