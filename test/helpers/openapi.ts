import type { FastifyInstance } from 'fastify';

export type Schema = {
  $ref?: string;
  type?: string;
  pattern?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  example?: unknown;
  examples?: unknown[];
  properties?: Record<string, Schema>;
  items?: Schema;
};
export type Parameter = { in: string; name: string; required?: boolean; example?: unknown; schema?: Schema };
export type Example = { value: { code: string; status: number } };
export type Response = {
  description: string;
  headers?: Record<string, { $ref?: string }>;
  content?: Record<string, { schema?: Schema; examples?: Record<string, Example> }>;
};
export type Operation = {
  operationId: string;
  security?: Record<string, string[]>[];
  'x-required-scopes'?: string[];
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema; example?: unknown }> };
  responses: Record<string, Response>;
};
export type Document = {
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    headers: Record<string, unknown>;
    responses: Record<string, Response>;
    securitySchemes: Record<string, { description: string }>;
  };
};
export type Located = { path: string; method: string; operation: Operation };

/** The document as a client reads it, without a key. */
export async function servedDocument(app: FastifyInstance): Promise<Document> {
  const response = await app.inject({ url: '/openapi.json', headers: { authorization: undefined } });
  return response.json() as Document;
}

export function operationsOf(doc: Document): Located[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
  );
}

/** The example a tool (swagger-ui's "Try it out" among them) shows for a schema: its own, else its parts'. */
export function exampleOf(schema: Schema, doc: Document): unknown {
  if (schema.$ref) return exampleOf(doc.components.schemas[schema.$ref.split('/').pop() ?? ''] ?? {}, doc);
  if (schema.examples?.length) return schema.examples[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.type === 'array' && schema.items) return [exampleOf(schema.items, doc)];
  if (schema.type !== 'object') return undefined;
  const entries = Object.entries(schema.properties ?? {}).map(([name, part]) => [name, exampleOf(part, doc)]);
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
}
