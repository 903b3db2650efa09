/** The longest `Prefer: wait` honoured (docs/api.md); a longer one counts as this. */
export const MAX_WAIT_SECONDS = 30;

/**
 * The seconds of a `Prefer: wait=N` (RFC 7240), capped at 30, or undefined when the header has no wait
 * preference or a malformed one, which is ignored as RFC 7240 asks. Other preferences may sit beside it.
 */
export function preferredWaitSeconds(header: string | string[] | undefined): number | undefined {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  for (const value of values) {
    for (const preference of value.split(',')) {
      const [token = ''] = preference.split(';');
      const match = /^\s*wait\s*=\s*(?:"(\d+)"|(\d+))\s*$/i.exec(token);
      if (!match) continue;
      const seconds = Number(match[1] ?? match[2]);
      return seconds >= 1 ? Math.min(seconds, MAX_WAIT_SECONDS) : undefined;
    }
  }
  return undefined;
}
