import { maskPhoneNumber } from './phone.js';
import { REDACTED, redactUrl } from './redact.js';

// Credentials that a careless client may put in a URL: the auth hook refuses them, logs must not keep them.
const SECRET_NAME = /^(api[_-]?key|access[_-]?token|key|token|authorization)$/i;
// Such a parameter's number is masked even when too short or too long to be one (redact.ts finds the rest).
const PHONE_NAME = /^phone[_-]?number$/i;
const NUMBER_LIKE = /^[0-9 +().-]{1,32}$/;
// What every name above contains, or an escape that may spell it.
const MAYBE_NAMED = /key|token|auth|phone|%/i;

function decoded(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/** Whether a query string parameter name is one that carries credentials, however it is escaped. */
export function isSecretParameter(name: string): boolean {
  return SECRET_NAME.test(decoded(name));
}

/** Parameters whose name says what they hold: credentials removed, phone numbers masked whatever their form. */
function redactNamedParameters(url: string): string {
  const queryStart = url.indexOf('?');
  // Most query strings name none of them: no split, no decoding.
  if (queryStart < 0 || !MAYBE_NAMED.test(url.slice(queryStart))) return url;
  const [query = '', fragment] = url.slice(queryStart + 1).split('#', 2);
  const pairs = query.split('&').map((pair) => {
    const separator = pair.indexOf('=');
    const rawName = separator < 0 ? pair : pair.slice(0, separator);
    const name = decoded(rawName);
    if (SECRET_NAME.test(name)) return `${rawName}=${REDACTED}`;
    const value = separator < 0 ? '' : decoded(pair.slice(separator + 1));
    if (!PHONE_NAME.test(name) || !NUMBER_LIKE.test(value)) return pair;
    return `${rawName}=${maskPhoneNumber(value)}`;
  });
  return `${url.slice(0, queryStart + 1)}${pairs.join('&')}${fragment === undefined ? '' : `#${fragment}`}`;
}

/**
 * The request URL as logs may show it: keys, `secrets` and phone numbers redacted by what they look like,
 * wherever they are (redact.ts), and parameters named for credentials or phone numbers masked whatever
 * they hold.
 */
export function urlForLog(url: string, secrets: readonly string[] = []): string {
  return redactUrl(redactNamedParameters(url), secrets);
}
