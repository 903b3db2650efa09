import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claro, createTestApp, TEST_ADMIN_KEY, type TestApp, tim } from './helpers/app.js';
import { servedDocument } from './helpers/openapi.js';

const ROOT = path.resolve(import.meta.dirname, '..');

// The README's calls, made by a client generated from the served document. The @ts-expect-error lines must
// fail to compile: with types too loose to refuse them, the test fails.
const CLIENT = `
import createClient from 'openapi-fetch';
import type { operations, paths } from './schema.js';

// Named operations, and the headers and codes of their answers, as the document gives them.
type Create = operations['createPhoneRecharge'];
export const replayed: Create['responses'][201]['headers']['Idempotent-Replayed'] = 'true';
export const location: Create['responses'][201]['headers']['Location'] = '/PhoneRecharges?id=x';
export const retryAfter: Create['responses'][409]['headers']['Retry-After'] = 1;
export const link: operations['listPhoneRecharges']['responses'][200]['headers']['Link'] = '<x>; rel="next"';
export const code: Create['responses'][422]['content']['application/problem+json']['code'] = 'unknown_product';

export async function readmeCalls(baseUrl: string, key: string) {
  const client = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${key}\` } });

  const catalogs = await client.GET('/CompanyProducts');
  const claro = await client.GET('/CompanyProducts', { params: { query: { company_id: 'claro_11' } } });

  const body = { company_id: 'claro_11', product_id: 'claro_10', phone_number: '+55 (11) 99999-9999', value: 10.0 };
  const made = await client.POST('/PhoneRecharges', {
    body,
    params: { header: { 'idempotency-key': 'readme-1' } },
  });
  if (!made.data) throw new Error(\`recharge refused: \${made.error?.code}\`);
  const id: string = made.data.id;
  const byId = await client.GET('/PhoneRecharges', { params: { query: { id } } });
  const byPhone = await client.GET('/PhoneRecharges', {
    params: { query: { phone_number: '5511999999999', limit: 2 } },
  });

  const created = await client.POST('/ApiKeys', {
    body: { name: 'shop-one', scopes: ['catalog:read', 'recharges:read', 'recharges:write'] },
  });
  const secret: string | undefined = created.data?.key;

  const refused = await client.POST('/PhoneRecharges', { body: { ...body, product_id: 'claro_15' } });
  const code: string | undefined = refused.error?.code;

  return {
    catalogs: catalogs.data,
    claro: claro.data,
    made: { status: made.response.status, location: made.response.headers.get('location'), body: made.data },
    byId: byId.data,
    byPhone: { data: byPhone.data, link: byPhone.response.headers.get('link') },
    created: { status: created.response.status, secret },
    refused: { status: refused.response.status, code },
  };
}

export function wrongCalls(client: ReturnType<typeof createClient<paths>>) {
  // @ts-expect-error an unknown scope
  client.POST('/ApiKeys', { body: { name: 'x', scopes: ['catalog:delete'] } });
  // @ts-expect-error value is required
  client.POST('/PhoneRecharges', { body: { company_id: 'c', product_id: 'p', phone_number: '5511999999999' } });
  // @ts-expect-error no such path
  client.GET('/Recharges');
}
`;

describe('a client generated from the document with openapi-typescript and openapi-fetch', () => {
  let t: TestApp;
  let dir: string;
  let baseUrl: string;
  beforeAll(async () => {
    t = await createTestApp('pglite', { SEED_DEMO_DATA: 'true' });
    baseUrl = await t.app.listen({ port: 0, host: '127.0.0.1' });
    dir = await mkdtemp(path.join(tmpdir(), 'recharge-api-client-'));
    // The client resolves openapi-fetch as a project of its own would, from a node_modules beside it.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  });
  afterAll(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('when the README’s calls are written with the generated types, then they compile, and run as the README says', async () => {
    const types = astToString(await openapiTS(JSON.parse(JSON.stringify(await servedDocument(t.app)))));
    await writeFile(path.join(dir, 'schema.ts'), types);
    await writeFile(path.join(dir, 'client.ts'), CLIENT);
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));

    const program = ts.createProgram([path.join(dir, 'client.ts')], {
      strict: true,
      noUncheckedIndexedAccess: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: true,
      outDir: dir,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const where = diagnostic.file?.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      const file = diagnostic.file ? path.basename(diagnostic.file.fileName) : '';
      return `${file}:${(where?.line ?? 0) + 1} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
    expect(program.emit().emitSkipped).toBe(false);

    const client = (await import(pathToFileURL(path.join(dir, 'client.js')).href)) as {
      readmeCalls(baseUrl: string, key: string): Promise<Record<string, unknown>>;
    };
    const result = await client.readmeCalls(baseUrl, TEST_ADMIN_KEY);
    const made = { company_id: 'claro_11', product_id: 'claro_10', phone_number: '5511999999999', value: 10 };
    // No dispatcher runs in tests unless asked: the recharge stays as it was stored.
    const pending = { status: 'pending', updated_at: expect.any(String), failure_code: null };
    expect(result).toEqual({
      catalogs: [claro, tim],
      claro,
      made: {
        status: 201,
        location: expect.stringMatching(/^\/PhoneRecharges\?id=/),
        body: { ...made, id: expect.any(String), created_at: expect.any(String), ...pending },
      },
      byId: { ...made, id: expect.any(String), created_at: expect.any(String), ...pending },
      byPhone: { data: [expect.objectContaining(made)], link: null },
      created: { status: 201, secret: expect.stringMatching(/^rk_/) },
      refused: { status: 422, code: 'unknown_product' },
    });
  });
});
