import { type Kysely, sql } from 'kysely';

/**
 * Every secret rotated out of an endpoint in the last 24 hours keeps signing, not only the latest: a second
 * rotation must not silence the first one's old secret before its day is up (docs/webhooks.md).
 * `previous_secrets` holds `{ "secret", "until" }` pairs. The single `previous_secret` is still written,
 * so a revision from before this one signs with the latest of them while both run.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table webhook_endpoints add column previous_secrets jsonb not null default '[]'`.execute(
    db,
  );
  await sql`
    update webhook_endpoints
    set previous_secrets = jsonb_build_array(
      jsonb_build_object('secret', previous_secret, 'until', previous_secret_until))
    where previous_secret is not null and previous_secret_until > statement_timestamp()
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table webhook_endpoints drop column previous_secrets`.execute(db);
}
