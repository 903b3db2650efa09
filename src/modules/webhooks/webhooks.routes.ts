import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../shared/access.js';
import { conflict, notFound, webhookUrlNotAllowed } from '../../shared/errors.js';
import { refuseOtherMethods } from '../../shared/http.js';
import { problems, success } from '../../shared/openapi.js';
import type { EndpointRecord, MessageRecord } from './webhooks.repository.js';
import {
  DEFAULT_PAGE_SIZE,
  DeliveriesQuerySchema,
  EndpointIdQuerySchema,
  MAX_ENDPOINTS_PER_CLIENT,
  MessageIdQuerySchema,
  type WebhookEndpoint,
  WebhookEndpointInputSchema,
  WebhookEndpointReplaceSchema,
  WebhookEndpointSchema,
  WebhookEndpointWithSecretSchema,
  type WebhookMessage,
  WebhookMessageSchema,
} from './webhooks.schemas.js';
import { tooManySecrets, type WebhookService } from './webhooks.service.js';

const ENDPOINTS = '/WebhookEndpoints';
const DELIVERIES = '/WebhookDeliveries';
const NO_ENDPOINT = notFound('no such webhook endpoint');
const URL_REFUSED = webhookUrlNotAllowed('host hooks.internal resolves to a non-public address');

export const webhookRoutes: FastifyPluginAsyncTypebox<{ service: WebhookService }> = async (
  app,
  { service },
) => {
  for (const schema of [
    WebhookEndpointInputSchema,
    WebhookEndpointReplaceSchema,
    WebhookEndpointSchema,
    WebhookEndpointWithSecretSchema,
    WebhookMessageSchema,
  ])
    app.addSchema(schema);
  const EndpointRef = Type.Ref(WebhookEndpointSchema);
  const WithSecretRef = Type.Ref(WebhookEndpointWithSecretSchema);

  app.post(
    ENDPOINTS,
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: `Register an endpoint for your recharges' outcomes (at most ${MAX_ENDPOINTS_PER_CLIENT})`,
        operationId: 'createWebhookEndpoint',
        body: Type.Ref(WebhookEndpointInputSchema),
        response: {
          201: success(WithSecretRef, 'The endpoint, with its signing secret (shown only here)'),
          ...problems(
            conflict(`a client has at most ${MAX_ENDPOINTS_PER_CLIENT} webhook endpoints`),
            URL_REFUSED,
          ),
        },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await service.create(request.body, principalOf(request));
      reply.code(201);
      return { ...endpointToApi(endpoint), secret };
    },
  );

  app.get(
    ENDPOINTS,
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        summary: "Your endpoints, without secrets; an admin: every client's",
        operationId: 'listWebhookEndpoints',
        response: { 200: success(Type.Array(EndpointRef), 'The endpoints') },
      },
    },
    async (request) => (await service.list(principalOf(request))).map(endpointToApi),
  );

  app.put(
    ENDPOINTS,
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Replace an endpoint’s URL and events, make it active again, and rotate its secret if asked',
        operationId: 'replaceWebhookEndpoint',
        querystring: EndpointIdQuerySchema,
        body: Type.Ref(WebhookEndpointReplaceSchema),
        response: {
          200: success(
            Type.Union([WithSecretRef, EndpointRef]),
            'The endpoint; with rotate_secret, its new secret',
          ),
          ...problems(NO_ENDPOINT, URL_REFUSED, tooManySecrets()),
        },
      },
    },
    async (request) => {
      const { endpoint, secret } = await service.replace(
        request.query.id,
        request.body,
        principalOf(request),
      );
      return secret ? { ...endpointToApi(endpoint), secret } : endpointToApi(endpoint);
    },
  );

  app.delete(
    ENDPOINTS,
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Delete an endpoint and its messages',
        operationId: 'deleteWebhookEndpoint',
        querystring: EndpointIdQuerySchema,
        response: { 204: success(Type.Null(), 'Deleted'), ...problems(NO_ENDPOINT) },
      },
    },
    async (request, reply) => {
      await service.remove(request.query.id, principalOf(request));
      return reply.code(204).send(null);
    },
  );
  refuseOtherMethods(app, ENDPOINTS, ['DELETE', 'GET', 'HEAD', 'POST', 'PUT']);

  app.get(
    DELIVERIES,
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        summary: 'Your webhook messages and how their delivery went, newest first',
        operationId: 'listWebhookDeliveries',
        querystring: DeliveriesQuerySchema,
        response: { 200: success(Type.Array(Type.Ref(WebhookMessageSchema)), 'A page of messages', 'Link') },
      },
    },
    async (request, reply) => {
      const { endpoint_id: endpointId, limit = DEFAULT_PAGE_SIZE, cursor } = request.query;
      const page = await service.listMessages(principalOf(request), limit, endpointId, cursor);
      if (page.nextCursor) {
        const endpoint = endpointId === undefined ? '' : `endpoint_id=${endpointId}&`;
        reply.header(
          'link',
          `<${DELIVERIES}?${endpoint}limit=${limit}&cursor=${page.nextCursor}>; rel="next"`,
        );
      }
      return page.items.map(messageToApi);
    },
  );

  app.post(
    DELIVERIES,
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a message again now, with the same webhook-id',
        operationId: 'resendWebhookMessage',
        querystring: MessageIdQuerySchema,
        response: {
          202: success(Type.Ref(WebhookMessageSchema), 'The message, due now'),
          ...problems(notFound('no such webhook message')),
        },
      },
    },
    async (request, reply) => {
      reply.code(202);
      return messageToApi(await service.resend(request.query.id, principalOf(request)));
    },
  );
  refuseOtherMethods(app, DELIVERIES, ['GET', 'HEAD', 'POST']);
};

function endpointToApi(endpoint: EndpointRecord): WebhookEndpoint {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    status: endpoint.status,
    created_at: endpoint.created_at.toISOString(),
  };
}

function messageToApi(message: MessageRecord): WebhookMessage {
  return {
    id: message.id,
    endpoint_id: message.endpoint_id,
    type: message.type,
    recharge_id: message.recharge_id,
    status: message.status,
    attempts: message.attempts,
    last_response_status: message.last_response_status,
    next_attempt_at: message.next_attempt_at?.toISOString() ?? null,
    created_at: message.created_at.toISOString(),
  };
}
