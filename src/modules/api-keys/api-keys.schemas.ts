import { Type } from '@sinclair/typebox';
import { SCOPES, type Scope } from '../../shared/access.js';
import { IdentifierSchema } from '../../shared/schemas.js';

// An enum, not a union of literals: a wrong scope then gives one clear error, not one per choice.
export const ScopeSchema = Type.Unsafe<Scope>({
  type: 'string',
  enum: [...SCOPES],
  description: `One of ${SCOPES.join(', ')}`,
});

export const NewApiKeySchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 100,
      pattern: '^[A-Za-z0-9 _.:-]+$',
      examples: ['shop-one'],
    }),
    client: Type.Optional({
      ...IdentifierSchema,
      description: 'The tenant the key acts for; defaults to name',
      examples: ['shop-one'],
    }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPES.length, uniqueItems: true }),
  },
  {
    $id: 'NewApiKey',
    additionalProperties: false,
    examples: [{ name: 'shop-one', scopes: ['catalog:read', 'recharges:read', 'recharges:write'] }],
  },
);

const apiKeyProperties = {
  id: Type.String({ description: 'Public id, also the second part of the key' }),
  name: Type.String(),
  client: Type.String(),
  scopes: Type.Array(ScopeSchema),
  created_at: Type.String({ format: 'date-time' }),
};

export const ApiKeySchema = Type.Object(apiKeyProperties, { $id: 'ApiKey', additionalProperties: false });

export const CreatedApiKeySchema = Type.Object(
  {
    ...apiKeyProperties,
    key: Type.String({ description: 'The key itself: shown only in this response, store it now' }),
  },
  { $id: 'CreatedApiKey', additionalProperties: false },
);

export const KeyIdQuerySchema = Type.Object(
  {
    id: Type.String({
      pattern: '^[0-9a-f]{16}$',
      description: '16 hex digits',
    }),
  },
  { additionalProperties: false },
);
