import { randomBytes } from 'node:crypto';
import type { UnitOfWork } from '../../db/unit-of-work.js';
import { type Principal, visibleClient } from '../../shared/access.js';
import { decodeCursor, encodeCursor, instantOf, pageOf } from '../../shared/cursor.js';
import { conflict, notFound, webhookUrlNotAllowed } from '../../shared/errors.js';
import { generateSecret } from './signing.js';
import type { UrlGuard } from './url-guard.js';
import type { EndpointRecord, MessageRecord, WebhookRepository } from './webhooks.repository.js';
import { EVENTS, MAX_ENDPOINTS_PER_CLIENT, MAX_PREVIOUS_SECRETS } from './webhooks.schemas.js';

/** A rotation that would make more old secrets sign than MAX_PREVIOUS_SECRETS. */
export const tooManySecrets = () =>
  conflict(
    `the secret was rotated ${MAX_PREVIOUS_SECRETS} times in the last 24 hours and each old one still signs; rotate again once the oldest stops`,
  );

/** How long an old secret keeps signing beside the new one after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

const MESSAGE_ID = /^msg_[0-9a-f]{32}$/;

export type MessagePage = { items: MessageRecord[]; nextCursor: string | null };

export function createWebhookService({
  webhooks,
  transaction,
  guard,
  onResend = () => {},
  now = () => new Date(),
}: {
  webhooks: WebhookRepository;
  transaction: UnitOfWork<{ webhooks: WebhookRepository }>;
  guard: UrlGuard;
  /** Told when a message is made due again, to send it now. */
  onResend?: () => void;
  now?: () => Date;
}) {
  async function requireAllowed(url: string): Promise<void> {
    const verdict = await guard.check(url);
    if (!verdict.allowed) throw webhookUrlNotAllowed(verdict.reason);
  }

  return {
    /** Registers an endpoint of the caller's client; its secret is in the answer and nowhere else. */
    async create(
      input: { url: string; events?: string[] | undefined },
      principal: Principal,
    ): Promise<{ endpoint: EndpointRecord; secret: string }> {
      await requireAllowed(input.url);
      const secret = generateSecret();
      const endpoint = await transaction(async ({ webhooks }) => {
        await webhooks.lockClient(principal.client);
        if ((await webhooks.countEndpoints(principal.client)) >= MAX_ENDPOINTS_PER_CLIENT) {
          throw conflict(
            `a client has at most ${MAX_ENDPOINTS_PER_CLIENT} webhook endpoints; delete one first`,
          );
        }
        return webhooks.insertEndpoint({
          id: `ep_${randomBytes(12).toString('hex')}`,
          client: principal.client,
          url: input.url,
          events: input.events ?? [...EVENTS],
          secret,
        });
      });
      return { endpoint, secret };
    },

    /** The caller's endpoints; an admin's: every client's. */
    list(principal: Principal): Promise<EndpointRecord[]> {
      return webhooks.listEndpoints(visibleClient(principal));
    },

    /** Replaces URL and events and makes the endpoint active; with `rotate`, a new secret too. */
    async replace(
      id: string,
      input: { url: string; events: string[]; rotate_secret?: boolean | undefined },
      principal: Principal,
    ): Promise<{ endpoint: EndpointRecord; secret?: string }> {
      await requireAllowed(input.url);
      const secret = input.rotate_secret ? generateSecret() : undefined;
      const endpoint = await webhooks.replaceEndpoint(id, visibleClient(principal), {
        url: input.url,
        events: input.events,
        newSecret: secret,
        previousUntil: new Date(now().getTime() + ROTATION_OVERLAP_MS),
      });
      if (!endpoint) {
        if (secret && (await webhooks.findEndpoint(id, visibleClient(principal)))) throw tooManySecrets();
        throw notFound('no such webhook endpoint');
      }
      return secret ? { endpoint, secret } : { endpoint };
    },

    /** Deletes an endpoint and its messages. */
    async remove(id: string, principal: Principal): Promise<void> {
      if (!(await webhooks.deleteEndpoint(id, visibleClient(principal))))
        throw notFound('no such webhook endpoint');
    },

    async listMessages(
      principal: Principal,
      limit: number,
      endpointId?: string,
      cursor?: string,
    ): Promise<MessagePage> {
      const before = cursor === undefined ? undefined : readCursor(cursor);
      const rows = await webhooks.listMessages(visibleClient(principal), endpointId, limit + 1, before);
      const { items, last } = pageOf(rows, limit);
      return {
        items,
        nextCursor: last ? encodeCursor([last.created_at.toISOString(), last.id]) : null,
      };
    },

    /** Makes a message due now, keeping its webhook-id; another client's is as absent as a missing one. */
    async resend(id: string, principal: Principal): Promise<MessageRecord> {
      const message = MESSAGE_ID.test(id) ? await webhooks.resend(id, visibleClient(principal)) : null;
      if (!message) throw notFound('no such webhook message');
      onResend();
      return message;
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;

function readCursor(cursor: string): { created_at: Date; id: string } {
  return decodeCursor(cursor, (key) => {
    const [createdAt, id] = key;
    const date = instantOf(createdAt);
    return key.length === 2 && date && typeof id === 'string' && MESSAGE_ID.test(id)
      ? { created_at: date, id }
      : undefined;
  });
}
