import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../shared/access.js';
import { notFound } from '../../shared/errors.js';
import { refuseOtherMethods } from '../../shared/http.js';
import { problems, success } from '../../shared/openapi.js';
import type { ApiKeyRecord } from './api-keys.repository.js';
import { ApiKeySchema, CreatedApiKeySchema, KeyIdQuerySchema, NewApiKeySchema } from './api-keys.schemas.js';
import type { ApiKeyService } from './api-keys.service.js';

const PATH = '/ApiKeys';

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ service: ApiKeyService }> = async (
  app,
  { service },
) => {
  for (const schema of [NewApiKeySchema, ApiKeySchema, CreatedApiKeySchema]) app.addSchema(schema);

  app.post(
    PATH,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'Create an API key (admin); the key is in this response only',
        operationId: 'createApiKey',
        body: Type.Ref(NewApiKeySchema),
        response: { 201: success(Type.Ref(CreatedApiKeySchema), 'The key made, shown this once') },
      },
    },
    async (request, reply) => {
      const { record, key } = await service.createKey(request.body, principalOf(request));
      reply.code(201);
      return { ...toApi(record), key };
    },
  );

  app.get(
    PATH,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'List active API keys (admin); keys themselves are never shown again',
        operationId: 'listApiKeys',
        response: { 200: success(Type.Array(Type.Ref(ApiKeySchema)), 'The active keys') },
      },
    },
    async () => (await service.listKeys()).map(toApi),
  );

  app.delete(
    PATH,
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['access'],
        summary: 'Revoke an API key (admin); refused on every instance before this returns',
        operationId: 'revokeApiKey',
        querystring: KeyIdQuerySchema,
        response: {
          204: success(Type.Null(), 'Revoked'),
          ...problems(notFound('no active API key 0c891e29629566bd')),
        },
      },
    },
    async (request, reply) => {
      await service.revokeKey(request.query.id, principalOf(request));
      return reply.code(204).send(null);
    },
  );

  refuseOtherMethods(app, PATH, ['GET', 'HEAD', 'POST', 'DELETE']);
};

function toApi(record: ApiKeyRecord) {
  return { ...record, created_at: record.created_at.toISOString() };
}
