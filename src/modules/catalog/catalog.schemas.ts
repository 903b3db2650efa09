import { type Static, Type } from '@sinclair/typebox';
import { IdentifierSchema, MoneySchema, problemResponses } from '../../shared/schemas.js';

export const MAX_PRODUCTS = 1000;

export const ProductSchema = Type.Object(
  { id: IdentifierSchema, value: MoneySchema },
  { additionalProperties: false },
);

export const CatalogSchema = Type.Object(
  {
    company_id: IdentifierSchema,
    products: Type.Array(ProductSchema, {
      maxItems: MAX_PRODUCTS,
      description: 'Product ids are unique in a catalog; returned ordered by value, then id',
    }),
  },
  { $id: 'Catalog', additionalProperties: false, description: "A company's catalog of top-up products" },
);
export type Catalog = Static<typeof CatalogSchema>;

export const CatalogListSchema = Type.Array(Type.Ref(CatalogSchema));

export const CompanyQuerySchema = Type.Object(
  { company_id: Type.Optional(IdentifierSchema) },
  { additionalProperties: false },
);
export const RequiredCompanyQuerySchema = Type.Object(
  { company_id: IdentifierSchema },
  { additionalProperties: false },
);

export const EtagHeaderSchema = Type.Object({
  etag: Type.String({ description: 'Entity tag of the representation' }),
});

export const catalogErrors = problemResponses(400, 401, 403, 404, 405, 409, 412, 413, 415, 429, 500, 503);
