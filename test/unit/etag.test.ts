import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeEtag, matchesIfMatch, matchesIfNoneMatch } from '../../src/shared/etag.js';

const catalog = { company_id: 'claro_11', products: [{ id: 'claro_10', value_cents: 1000 }] };
const etag = computeEtag(catalog);

describe('computeEtag', () => {
  it('is a strong, quoted tag of URL-safe characters', () => {
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
  });

  it('when the content is equal, then the tag is equal, whatever the object identity', () => {
    expect(computeEtag(structuredClone(catalog))).toBe(etag);
    expect(computeEtag(JSON.parse(JSON.stringify(catalog)))).toBe(etag);
  });

  it('when the content differs, then the tag differs', () => {
    expect(computeEtag({ ...catalog, company_id: 'claro_12' })).not.toBe(etag);
    expect(computeEtag({ ...catalog, products: [] })).not.toBe(etag);
    expect(computeEtag({ ...catalog, products: [{ id: 'claro_10', value_cents: 1001 }] })).not.toBe(etag);
    expect(computeEtag([])).not.toBe(computeEtag({}));
  });

  it('when any two JSON values differ, then their tags differ', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(computeEtag(a)).not.toBe(computeEtag(b));
      }),
    );
  });
});

describe('matchesIfNoneMatch (weak comparison)', () => {
  it.each([
    ['the current tag', etag, true],
    ['the current tag marked weak', `W/${etag}`, true],
    ['a list holding the current tag', `"other", ${etag}`, true],
    ['a list holding the weak current tag, no spaces', `"a",W/${etag},"b"`, true],
    ['*', '*', true],
    ['another tag', '"other"', false],
    ['a list of other tags', '"a", W/"b"', false],
    ['the tag without quotes', etag.slice(1, -1), false],
    ['an empty header', '', false],
  ])('when If-None-Match is %s, then it matches: %s', (_name, header, expected) => {
    expect(matchesIfNoneMatch(header, etag)).toBe(expected);
  });

  it('when If-None-Match is absent, then it does not match', () => {
    expect(matchesIfNoneMatch(undefined, etag)).toBe(false);
  });
});

describe('matchesIfMatch (strong comparison)', () => {
  it.each([
    ['the current tag', etag, true],
    ['a list holding the current tag', `"other", ${etag}`, true],
    ['*', '*', true],
    ['the current tag marked weak', `W/${etag}`, false],
    ['a list holding only the weak current tag', `"other", W/${etag}`, false],
    ['another tag', '"other"', false],
    ['the tag without quotes', etag.slice(1, -1), false],
  ])('when If-Match is %s, then it matches: %s', (_name, header, expected) => {
    expect(matchesIfMatch(header, etag)).toBe(expected);
  });

  it('when If-Match is absent, then the write is unconditional', () => {
    expect(matchesIfMatch(undefined, etag)).toBe(true);
  });
});
