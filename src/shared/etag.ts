function listedTags(header: string): string[] {
  return header
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0);
}

/** If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = listedTags(header);
  return tags.includes('*') || tags.some((tag) => tag.replace(/^W\//, '') === etag);
}

/** If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak tag never matches. */
export function matchesIfMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  const tags = listedTags(header);
  return tags.includes('*') || tags.includes(etag);
}
