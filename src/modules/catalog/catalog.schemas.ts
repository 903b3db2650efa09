import { type Static, Type } from '@sinclair/typebox';
import { IdentifierSchema, MoneySchema } from '../../shared/schemas.js';

export const MAX_PRODUCTS = 1000;

// The examples name a company the demo data does not have, so that trying a write as the document shows
// it changes nothing that was there (the demo catalogs are claro_11 and tim_11).
const EXAMPLE_COMPANY = 'vivo_11';

export const ProductSchema = Type.Object(
  { id: { ...IdentifierSchema, examples: ['vivo_15'] }, value: { ...MoneySchema, examples: [15] } },
  { additionalProperties: false },
);

export const CatalogSchema = Type.Object(
  {
    company_id: { ...IdentifierSchema, examples: [EXAMPLE_COMPANY] },
    products: Type.Array(ProductSchema, {
      maxItems: MAX_PRODUCTS,
      'x-unique-by': 'id',
      description: 'Product ids are unique in a catalog; returned ordered by value, then id',
    }),
  },
  {
    $id: 'Catalog',
    additionalProperties: false,
    description: "A company's catalog of top-up products",
    examples: [{ company_id: EXAMPLE_COMPANY, products: [{ id: 'vivo_15', value: 15 }] }],
  },
);
export type Catalog = Static<typeof CatalogSchema>;

export const CatalogListSchema = Type.Array(Type.Ref(CatalogSchema));

export const CompanyQuerySchema = Type.Object(
  { company_id: Type.Optional(IdentifierSchema) },
  { additionalProperties: false },
);
/** The company a write names, shown with the example company the catalog examples write. */
export const WriteCompanyQuerySchema = Type.Object(
  { company_id: Type.Optional({ ...IdentifierSchema, examples: [EXAMPLE_COMPANY] }) },
  { additionalProperties: false },
);
export const RequiredCompanyQuerySchema = Type.Object(
  { company_id: { ...IdentifierSchema, examples: [EXAMPLE_COMPANY] } },
  { additionalProperties: false },
);
