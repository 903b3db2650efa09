import { describe, expect, it, vi } from 'vitest';
import type { CatalogService } from '../../src/modules/catalog/index.js';
import { seedDemoCatalogs } from '../../src/seed.js';
import { AppError } from '../../src/shared/errors.js';
import { moneyToCents } from '../../src/shared/schemas.js';

const log = { info: vi.fn() } as unknown as Parameters<typeof seedDemoCatalogs>[1];

function serviceThatFailsWith(error: Error): CatalogService {
  return {
    listCatalogs: async () => ({ value: [], etag: '"e"' }),
    createCatalog: async () => {
      throw error;
    },
  } as unknown as CatalogService;
}

describe('seedDemoCatalogs', () => {
  it('when another instance seeded first (409), then the conflict is ignored', async () => {
    await expect(
      seedDemoCatalogs(serviceThatFailsWith(new AppError('conflict', 'exists')), log),
    ).resolves.toBeUndefined();
  });

  it('when creating fails otherwise, then the error propagates and start-up fails', async () => {
    await expect(seedDemoCatalogs(serviceThatFailsWith(new Error('disk full')), log)).rejects.toThrow(
      'disk full',
    );
  });
});

describe('moneyToCents', () => {
  it('converts a money value to integer cents', () => {
    expect(moneyToCents(10.5, '/value')).toBe(1050);
  });

  it('when a float slipped past validation, then it refuses with the field path instead of rounding', () => {
    expect(() => moneyToCents(0.1 + 0.2, '/products/0/value')).toThrow(
      expect.objectContaining({
        code: 'invalid_request',
        errors: [{ path: '/products/0/value', message: 'must be money' }],
      }),
    );
  });
});
