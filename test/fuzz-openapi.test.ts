import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claro, postJson, rechargeBody, TEST_ADMIN_KEY } from './helpers/app.js';
import { databaseTargets } from './helpers/databases.js';
import { useTestApp } from './helpers/fixtures.js';
import { type OpenApiDocument, operationsOf, requestsFor } from './helpers/request-fuzz.js';

// Limits out of the way, so that every run gets as far into the service as its input lets it.
const ENV = {
  RATE_LIMIT_PER_MINUTE: '1000000',
  RATE_LIMIT_PER_IP_PER_MINUTE: '10000000',
  AUTH_FAILURES_PER_MINUTE: '1000000',
  RECHARGES_PER_CLIENT_PER_MINUTE: '1000000',
};
// An operation that takes input gets more runs than one that only reads headers.
const RUNS_WITH_INPUT = 100;
const RUNS_WITHOUT_INPUT = 25;

describe.each(databaseTargets)(
  'random requests to every operation of the OpenAPI document, on %s',
  (target) => {
    const t = useTestApp(target, { env: ENV });

    it('when any query string, headers or JSON body is sent, with the admin key or without, then no answer is a 5xx', async () => {
      const { app } = t();
      expect((await postJson(app, '/CompanyProducts', claro)).statusCode).toBe(201);
      expect((await postJson(app, '/PhoneRecharges', rechargeBody)).statusCode).toBe(201);
      const served = await app.inject({ url: '/openapi.json', headers: { authorization: undefined } });
      const document = served.json() as OpenApiDocument;
      const operations = operationsOf(document);
      expect(operations.length).toBeGreaterThanOrEqual(10);
      const errorLogsSince = (seen: number) =>
        t()
          .logs()
          .slice(seen)
          .filter((line) => Number(line.level) >= 50);

      for (const operation of operations) {
        const hasInput = operation.parameters.length > 0 || operation.body !== undefined;
        await fc.assert(
          fc.asyncProperty(requestsFor(operation, document, TEST_ADMIN_KEY), async (request) => {
            const seen = t().logs().length;
            const response = await app.inject(request);
            await new Promise(setImmediate); // the last lines through the log stream
            // The request sits beside the status, so a failure shows what was sent.
            expect({ request, status: response.statusCode }).toEqual({
              request,
              status: expect.toSatisfy((status: number) => status < 500),
            });
            expect(errorLogsSince(seen)).toEqual([]);
          }),
          { numRuns: hasInput ? RUNS_WITH_INPUT : RUNS_WITHOUT_INPUT },
        );
      }
      const ready = await app.inject({ url: '/readyz', headers: { authorization: undefined } });
      expect(ready.statusCode).toBe(200);
    }, 300_000);
  },
);
