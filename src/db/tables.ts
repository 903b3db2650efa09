import type { ColumnType } from 'kysely';

// The tables as Kysely sees them: what each column reads as, and what an insert or update may write.
export interface CompaniesTable {
  company_id: string;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
  /** catalog_state.version at this company's last write. */
  version: ColumnType<string, string | undefined, string>;
}

export interface CatalogStateTable {
  id: number;
  version: ColumnType<string, never, string>;
}

export interface ProductsTable {
  company_id: string;
  product_id: string;
  value_cents: number;
}

export interface RechargesTable {
  id: string;
  created_at: Date;
  company_id: string;
  product_id: string;
  phone_number: string;
  value_cents: number;
  /** The client (tenant) of the API key that made it. */
  client: string;
  status: RechargeStatus;
  updated_at: Date;
  failure_code: FailureCode | null;
  attempts: ColumnType<number, number | undefined, number>;
  next_step: 'send' | 'query' | null;
  next_attempt_at: Date | null;
  claims: ColumnType<number, number | undefined, number>;
}

export type RechargeStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'reversed';
export type FailureCode =
  | 'invalid_number'
  | 'barred_number'
  | 'carrier_declined'
  | 'carrier_unavailable'
  | 'carrier_reversed';

export interface SandboxCarrierTopUpsTable {
  id: ColumnType<string, never, never>;
  reference: string;
  phone_number: string;
  value_cents: number;
  credited_at: Date;
  reversed_at: Date | null;
}

export interface SandboxCarrierRequestsTable {
  reference: string;
  sends: number;
  refusal: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  client: string;
  scopes: string[];
  key_hash: Uint8Array;
  created_at: ColumnType<Date, never, never>;
  created_by: string | null;
  revoked_at: ColumnType<Date | null, never, Date>;
}

export interface AuditEventsTable {
  id: ColumnType<string, never, never>;
  occurred_at: ColumnType<Date, never, never>;
  actor_key_id: string;
  actor_client: string;
  action: string;
  target: string;
  before: ColumnType<unknown, string | null, never>;
  after: ColumnType<unknown, string | null, never>;
}

export interface IdempotencyKeysTable {
  client: string;
  key: string;
  fingerprint: string;
  recharge_id: string;
  created_at: Date;
}

export interface AccountsTable {
  client: string;
  balance_cents: ColumnType<string, never, never>;
  /** null: no limit. */
  credit_limit_cents: ColumnType<string | null, number | null | undefined, number | null>;
  daily_value_cents: ColumnType<string | null, number | null | undefined, number | null>;
  daily_count: number | null;
  same_phone_cooldown_seconds: ColumnType<number, number | undefined, number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export type LedgerEntryType = 'deposit' | 'adjustment' | 'recharge' | 'refund';

export interface LedgerEntriesTable {
  id: ColumnType<string, never, never>;
  client: string;
  type: LedgerEntryType;
  amount_cents: ColumnType<string, number, never>;
  balance_after_cents: ColumnType<string, number, never>;
  recharge_id: string | null;
  note: string | null;
  created_at: ColumnType<Date, never, never>;
}

export interface WebhookEndpointsTable {
  id: string;
  client: string;
  url: string;
  events: string[];
  status: 'active' | 'disabled';
  secret: string;
  /** The latest secret rotated out, for a revision from before `previous_secrets`. */
  previous_secret: string | null;
  previous_secret_until: Date | null;
  /** Every secret rotated out that still signs, each with the instant it stops (migration 0011). */
  previous_secrets: ColumnType<
    { secret: string; until: string }[],
    never,
    { secret: string; until: string }[]
  >;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

export type WebhookMessageStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookMessagesTable {
  id: string;
  endpoint_id: string;
  client: string;
  type: string;
  recharge_id: string;
  recharge_status: RechargeStatus;
  recharge_updated_at: Date;
  recharge_failure_code: FailureCode | null;
  status: WebhookMessageStatus;
  attempts: ColumnType<number, number | undefined, number>;
  last_response_status: number | null;
  next_attempt_at: Date | null;
  created_at: ColumnType<Date, never, never>;
}

export interface DB {
  catalog_state: CatalogStateTable;
  companies: CompaniesTable;
  products: ProductsTable;
  recharges: RechargesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  sandbox_carrier_top_ups: SandboxCarrierTopUpsTable;
  sandbox_carrier_requests: SandboxCarrierRequestsTable;
  carrier_feed_cursors: { carrier: string; seen_until: Date };
  accounts: AccountsTable;
  ledger_entries: LedgerEntriesTable;
  account_days: { client: string; day: string; value_cents: string; count: number };
  webhook_endpoints: WebhookEndpointsTable;
  webhook_messages: WebhookMessagesTable;
  ledger_idempotency_keys: {
    client: string;
    key: string;
    fingerprint: string;
    entry_id: string;
    created_at: Date;
  };
}
