import { describe, expect, it } from 'vitest';
import { matchesIfMatch, matchesIfNoneMatch } from '../../src/shared/etag.js';

// The shape of the tags the catalog serves: derived from its version (catalog.service.ts).
const etag = '"c42"';

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
