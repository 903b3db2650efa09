import fc from 'fast-check';
import type { InjectOptions } from 'light-my-request';

/** The parts of an OpenAPI 3.1 document the fuzzer reads. */
export type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  enum?: unknown[];
  examples?: unknown[];
  example?: unknown;
  default?: unknown;
};
type Parameter = { name: string; in: string; schema?: Schema; example?: unknown };
export type OpenApiDocument = {
  paths: Record<string, Record<string, { parameters?: Parameter[]; requestBody?: unknown }>>;
  components?: { schemas?: Record<string, Schema> };
};
export type Operation = { method: string; path: string; parameters: Parameter[]; body?: Schema };

// What has broken parsers before: numbers that `+text` reads, NUL and other controls, encodings, sizes.
const NASTY_NUMBERS = [
  'Infinity',
  '-Infinity',
  '1e400',
  'NaN',
  '0x10',
  '1e2',
  ' 10',
  '10.5',
  '-1',
  '0',
  '9'.repeat(400),
];
const NASTY_TEXT = [
  '',
  '\u0000',
  'a\u0000b',
  '0123456789abcde\u0000',
  '\u0001\u001f\u007f',
  '\r\n',
  '\t',
  ...NASTY_NUMBERS,
  'a'.repeat(10_000),
  '\uD800',
  '\u{1F600}',
  'ação',
  '../../package.json',
  "' OR 1=1 --",
  '__proto__',
  '[]',
  '{}',
  'null',
  '"quoted"',
  `rk_0123456789abcdef_${'a'.repeat(43)}`,
];
const nastyText = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_TEXT), weight: 2 },
  fc.string({ unit: 'binary-ascii' }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const nastyJson: fc.Arbitrary<unknown> = fc.oneof(
  nastyText,
  fc.constantFrom(1e308, -1e308, -0, 0.1 + 0.2, 10.005, 1e-7, 2 ** 53 + 2, -1, 0, 1_000_000, true, null),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant(Array.from({ length: 30 }, () => ({}))),
);
// Header values as Node's HTTP parser lets them through: visible Latin-1, space and tab.
const HEADER_SAFE = /[^\t\x20-\x7e\x80-\xff]/g;
const headerText = fc.oneof(
  fc.constantFrom(...NASTY_TEXT.map((text) => text.replace(HEADER_SAFE, ''))),
  fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0xff })
      .filter((code) => code !== 0x7f)
      .map((code) => String.fromCharCode(code)),
    maxLength: 300,
  }),
);
const rawBody = fc.constantFrom(
  '{"value": 1e400}',
  '{"company_id":"claro_11","company_id":"tim_11"}',
  '{"__proto__":{"admin":true}}',
  'not json',
  '',
  '"text"',
  `${'['.repeat(5_000)}${']'.repeat(5_000)}`,
  `{${Array.from({ length: 6_000 }, (_, index) => `"k${index}":1`).join(',')}}`,
);
const PLAIN: Record<string, unknown> = { string: 'fuzz_1', integer: 1, number: 1, boolean: true };
const RAW_QUERY = ['&', '&%', '%ff=%ff', '&=&', 'limit=%zz', '%00=%00'];
const OTHER_HEADERS = [
  'x-request-id',
  'idempotency-key',
  'if-match',
  'if-none-match',
  'prefer',
  'range',
  'content-type',
];

export function operationsOf(document: OpenApiDocument): Operation[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => {
      const { content } = (operation.requestBody ?? {}) as { content?: Record<string, { schema?: Schema }> };
      const body = content?.['application/json']?.schema;
      return {
        method: method.toUpperCase(),
        path,
        parameters: operation.parameters ?? [],
        ...(body ? { body } : {}),
      };
    }),
  );
}

/** A request the contract accepts as far as its examples go, the start of every run. */
type Draft = {
  query: [name: string, value: string][];
  rawQuery: string;
  headers: Record<string, string | undefined>;
  body?: unknown;
  rawBody?: string;
};
type Mutation = (draft: Draft) => void;

/**
 * Requests for one operation: its examples, changed in up to three ways (a parameter, header or body value
 * made nasty, an unknown one added, the key dropped or garbled), so that most reach its handler and its SQL.
 */
export function requestsFor(operation: Operation, document: OpenApiDocument, adminKey: string) {
  const resolve = (schema: Schema | undefined): Schema => {
    const name = schema?.$ref?.replace('#/components/schemas/', '');
    return name === undefined ? (schema ?? {}) : (document.components?.schemas?.[name] ?? {});
  };
  // In a body, a field without an example gets a plain value of its type; a parameter stays absent.
  const exampleOf = (given: Schema | undefined, depth = 0): unknown => {
    const schema = resolve(given);
    const known = schema.examples?.[0] ?? schema.example ?? schema.default ?? schema.enum?.[0];
    if (known !== undefined || depth > 4) return known;
    if (depth > 0 && typeof schema.type === 'string' && schema.type in PLAIN) return PLAIN[schema.type];
    if (schema.properties)
      return Object.fromEntries(
        Object.entries(schema.properties).map(([name, property]) => [name, exampleOf(property, depth + 1)]),
      );
    if (schema.items) return [exampleOf(schema.items, depth + 1)];
    return schema.anyOf ? exampleOf(schema.anyOf[0], depth + 1) : undefined;
  };
  const inQuery = operation.parameters.filter((parameter) => parameter.in === 'query');
  const inHeaders = operation.parameters.filter((parameter) => parameter.in === 'header');
  const body = operation.body === undefined ? undefined : exampleOf(operation.body);
  const start = (): Draft => ({
    query: inQuery.flatMap((parameter) => {
      const value = exampleOf({ ...parameter.schema, example: parameter.example });
      return value === undefined ? [] : [[parameter.name, String(value)]];
    }),
    rawQuery: '',
    headers: { authorization: `Bearer ${adminKey}` },
    ...(body === undefined ? {} : { body: structuredClone(body) }),
  });

  const valueFor = (parameter: Parameter) =>
    resolve(parameter.schema).type === 'integer'
      ? fc.oneof({ arbitrary: fc.constantFrom(...NASTY_NUMBERS), weight: 3 }, nastyText)
      : nastyText;
  const setParameter: fc.Arbitrary<Mutation>[] = inQuery.map((parameter) =>
    fc.array(valueFor(parameter), { minLength: 1, maxLength: 2 }).map((values) => (draft) => {
      draft.query = [
        ...draft.query.filter(([name]) => name !== parameter.name),
        ...values.map((value): [string, string] => [parameter.name, value]),
      ];
    }),
  );
  const mutations: fc.Arbitrary<Mutation>[] = [
    fc.tuple(nastyText, nastyText).map(
      ([name, value]) =>
        (draft) =>
          void draft.query.push([name, value]),
    ),
    fc.constantFrom(...RAW_QUERY).map((raw) => (draft) => {
      draft.rawQuery = raw;
    }),
    fc
      .oneof(
        fc.constant(undefined),
        headerText.map((text) => `Bearer ${text}`),
        headerText,
      )
      .map((authorization) => (draft) => {
        draft.headers.authorization = authorization;
      }),
    fc
      .tuple(fc.constantFrom(...inHeaders.map((parameter) => parameter.name), ...OTHER_HEADERS), headerText)
      .map(([name, value]) => (draft) => {
        draft.headers[name] = value;
      }),
    fc
      .oneof(
        nastyJson.map((value) => ({ value })),
        rawBody.map((raw) => ({ raw })),
      )
      .map((replacement) => (draft) => {
        if ('raw' in replacement) draft.rawBody = replacement.raw;
        else draft.body = replacement.value;
      }),
  ];
  if (body !== undefined) mutations.push(bodyMutation(body));
  const mutation =
    setParameter.length > 0
      ? fc.oneof({ arbitrary: fc.oneof(...setParameter), weight: mutations.length }, ...mutations)
      : fc.oneof(...mutations);

  return fc.array(mutation, { maxLength: 3 }).map((changes): InjectOptions => {
    const draft = start();
    for (const change of changes) change(draft);
    return toRequest(operation, draft);
  });
}

/** A nasty value, or a nasty new member, somewhere inside the example body. */
function bodyMutation(example: unknown): fc.Arbitrary<Mutation> {
  const paths: (string | number)[][] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (value === null || typeof value !== 'object') return;
    for (const [name, member] of Object.entries(value))
      visit(member, [...path, Array.isArray(value) ? Number(name) : name]);
  };
  visit(example, []);
  return fc
    .tuple(fc.constantFrom(...paths.filter((path) => path.length > 0)), fc.option(nastyText), nastyJson)
    .map(([path, newMember, value]) => (draft) => {
      const parent = path
        .slice(0, -1)
        .reduce<unknown>((node, step) => (node as Record<string | number, unknown>)?.[step], draft.body);
      if (parent === null || typeof parent !== 'object') return;
      const target = newMember === null ? (path.at(-1) as string | number) : newMember;
      // An own member even when it is named __proto__: assigning that would set the prototype instead (and
      // throw when the value's chain leads back to the parent), and the body would not carry the member.
      Object.defineProperty(parent, target, { value, enumerable: true, writable: true, configurable: true });
    });
}

/** Every byte percent-encoded but the unreserved ones, so that any string, lone surrogates too, makes a URL. */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => String.fromCharCode(byte))
    .map((char) =>
      /[A-Za-z0-9._~-]/.test(char) ? char : `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`,
    )
    .join('');
}

function toRequest(operation: Operation, draft: Draft): InjectOptions {
  const pairs = draft.query.map(([name, value]) => `${encode(name)}=${encode(value)}`);
  const search = [...pairs, ...(draft.rawQuery ? [draft.rawQuery] : [])].join('&');
  const payload = draft.rawBody ?? (draft.body === undefined ? undefined : JSON.stringify(draft.body));
  const headers = {
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    ...draft.headers,
  };
  return {
    method: operation.method as 'GET',
    url: search === '' ? operation.path : `${operation.path}?${search}`,
    headers,
    ...(payload === undefined ? {} : { payload }),
  };
}
