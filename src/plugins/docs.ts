import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { refuseOtherMethods } from '../shared/http.js';
import { SECURITY_SCHEME } from './auth.js';
import { completeDocument } from './openapi-document.js';

export type DocsOptions = { version: string; bodyLimitBytes: number };

/** OpenAPI 3.1 built from the route schemas that validate, served at /openapi.json, browsable at /docs. */
export const docsPlugin = fp(async (app: FastifyInstance, { version, bodyLimitBytes }: DocsOptions) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Recharge API',
        version,
        description:
          'Prepaid mobile top-ups in Brazil: carriers’ product catalogs and recharges. ' +
          'Errors are RFC 9457 problem details with a stable `code`; every operation lists the ones it ' +
          'can give, with an example of each. A method a path does not serve is answered 405 with `Allow` ' +
          '(`#/components/responses/MethodNotAllowed`).',
      },
      // Relative: the document describes the server that serves it, wherever that is.
      servers: [{ url: '/', description: 'The server this document was read from' }],
      components: {
        securitySchemes: {
          [SECURITY_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'rk_<id>_<secret>',
            description:
              'An API key in `Authorization: Bearer <key>`, never in the URL. Each operation lists the ' +
              'scope it needs; `admin` has every scope.',
          },
        },
      },
      tags: [
        { name: 'access', description: 'API keys and the audit trail (admin)' },
        { name: 'catalog', description: 'Carriers’ products (`/CompanyProducts`)' },
        { name: 'recharges', description: 'Top-ups (`/PhoneRecharges`)' },
        { name: 'operations', description: 'Health and documentation' },
      ],
    },
    // Shared schemas become named components (#/components/schemas/Catalog) instead of def-0, def-1, ...
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) => String(json.$id ?? `def-${index}`),
    },
    // Always an OpenAPI document here: `openapi` is set above.
    transformObject: (document) =>
      completeDocument((document as { openapiObject: ReturnType<SwaggerTransformObject> }).openapiObject, {
        bodyLimitBytes,
        securityScheme: SECURITY_SCHEME,
      }),
  });
  // The page's policy is helmet's (security-headers.ts), which allows its own assets and is chosen per
  // request: swagger-ui's staticCSP would replace it with one that breaks the page over plain http.
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The page, and every path under it (swagger-ui serves its assets and the document through a wildcard).
  for (const url of ['/openapi.json', '/docs', '/docs/*']) refuseOtherMethods(app, url, ['GET', 'HEAD']);
});
