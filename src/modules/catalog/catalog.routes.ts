import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { principalOf } from '../../shared/access.js';
import { answerAtEndOfTurn } from '../../shared/end-of-turn.js';
import { companyExists, companyNotFound, invalidRequest, preconditionFailed } from '../../shared/errors.js';
import { refuseOtherMethods, replyNotModified } from '../../shared/http.js';
import { fromCents } from '../../shared/money.js';
import { problems, success } from '../../shared/openapi.js';
import { moneyToCents } from '../../shared/schemas.js';
import type { CatalogRecord } from './catalog.repository.js';
import {
  type Catalog,
  CatalogListSchema,
  CatalogSchema,
  CompanyQuerySchema,
  RequiredCompanyQuerySchema,
  WriteCompanyQuerySchema,
} from './catalog.schemas.js';
import type { CatalogService, Versioned } from './catalog.service.js';

const PATH = '/CompanyProducts';
const CatalogRef = Type.Ref(CatalogSchema);
const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'Only write if the catalog still has this ETag' })),
});
const IfNoneMatchHeaders = Type.Object({ 'if-none-match': Type.Optional(Type.String()) });
const NotModified = Type.Null();
const unknown = companyNotFound('vivo_11');
const stale = preconditionFailed('"c42"');

export const catalogRoutes: FastifyPluginAsyncTypebox<{ service: CatalogService }> = async (
  app,
  { service },
) => {
  app.get(
    PATH,
    {
      // No personal data: the caller's own cache (not a shared one: it needs a key) may keep a catalog and
      // revalidate it with its ETag before each use.
      config: { scope: 'catalog:read', cacheControl: 'private, no-cache' },
      schema: {
        tags: ['catalog'],
        summary: 'List every catalog, or one company’s with ?company_id',
        operationId: 'listCompanyProducts',
        querystring: CompanyQuerySchema,
        headers: IfNoneMatchHeaders,
        response: {
          200: success(
            Type.Union([CatalogListSchema, CatalogRef]),
            'Every catalog, or the one asked',
            'ETag',
          ),
          304: success(NotModified, 'Not Modified: the ETag given in If-None-Match is current', 'ETag'),
          ...problems(unknown),
        },
      },
    },
    // Not async: a cached catalog is found at once, without a promise (sync-first.ts), and answered with
    // the other answers ready in this turn of the event loop (end-of-turn.ts); one read from the database is
    // answered when it returns. Either way the handler returns (or resolves to) undefined.
    (request, reply) => {
      const companyId = request.query.company_id;
      const found = companyId === undefined ? service.listCatalogs() : service.getCatalog(companyId);
      const answer = ({ value, etag }: Versioned<CatalogRecord | CatalogRecord[]>) => {
        if (replyNotModified(request, reply, etag)) return;
        // Already JSON: Fastify sends a string of a JSON type as it is, without the 200 schema.
        reply.type(JSON_TYPE).send(jsonOf(value) as never);
      };
      if (found instanceof Promise) return found.then(answer);
      answerAtEndOfTurn(reply, () => answer(found));
    },
  );

  app.post(
    PATH,
    {
      config: { scope: 'catalog:write' },
      schema: {
        tags: ['catalog'],
        summary: 'Create a company’s catalog',
        operationId: 'createCompanyProducts',
        body: CatalogRef,
        response: {
          201: success(CatalogRef, 'The catalog as stored', 'Location', 'ETag'),
          ...problems(companyExists('claro_11')),
        },
      },
    },
    async (request, reply) => {
      const { value, etag } = await service.createCatalog(fromApi(request.body), principalOf(request));
      reply.code(201).header('location', `${PATH}?company_id=${value.company_id}`).header('etag', etag);
      return toApi(value);
    },
  );

  app.put(
    PATH,
    {
      config: { scope: 'catalog:write' },
      schema: {
        tags: ['catalog'],
        summary: 'Replace a company’s product list',
        operationId: 'replaceCompanyProducts',
        querystring: WriteCompanyQuerySchema,
        headers: IfMatchHeaders,
        body: CatalogRef,
        response: {
          200: success(CatalogRef, 'The catalog as it now is', 'ETag'),
          ...problems(unknown, stale),
        },
      },
    },
    async (request, reply) => {
      const queried = request.query.company_id;
      if (queried !== undefined && queried !== request.body.company_id) {
        throw invalidRequest('company_id in the query and in the body differ', [
          { path: '/company_id', message: `must equal the query's company_id ${queried}` },
        ]);
      }
      const { value, etag } = await service.replaceCatalog(
        fromApi(request.body),
        principalOf(request),
        request.headers['if-match'],
      );
      reply.header('etag', etag);
      return toApi(value);
    },
  );

  app.delete(
    PATH,
    {
      config: { scope: 'catalog:write' },
      schema: {
        tags: ['catalog'],
        summary: 'Delete a company’s catalog (recharges already made keep their values)',
        operationId: 'deleteCompanyProducts',
        querystring: RequiredCompanyQuerySchema,
        headers: IfMatchHeaders,
        response: { 200: success(CatalogRef, 'The catalog deleted'), ...problems(unknown, stale) },
      },
    },
    async (request) =>
      toApi(
        await service.deleteCatalog(
          request.query.company_id,
          principalOf(request),
          request.headers['if-match'],
        ),
      ),
  );

  refuseOtherMethods(app, PATH, ['GET', 'HEAD', 'POST', 'PUT', 'DELETE']);
};

const JSON_TYPE = 'application/json; charset=utf-8';
// A cached catalog is one object for as long as it is cached, so its JSON is built once per version, not
// per read; the entry going out of the cache lets its text go too.
const bodies = new WeakMap<CatalogRecord | CatalogRecord[], string>();

/** The response body of a read: the same JSON the 200 schema would serialize (a test compares them). */
function jsonOf(value: CatalogRecord | CatalogRecord[]): string {
  let body = bodies.get(value);
  if (body === undefined) {
    body = JSON.stringify(Array.isArray(value) ? value.map(toApi) : toApi(value));
    bodies.set(value, body);
  }
  return body;
}

function toApi(catalog: CatalogRecord): Catalog {
  return {
    company_id: catalog.company_id,
    products: catalog.products.map((product) => ({ id: product.id, value: fromCents(product.value_cents) })),
  };
}

function fromApi(catalog: Catalog): CatalogRecord {
  return {
    company_id: catalog.company_id,
    products: catalog.products.map((product, index) => ({
      id: product.id,
      value_cents: moneyToCents(product.value, `/products/${index}/value`),
    })),
  };
}
