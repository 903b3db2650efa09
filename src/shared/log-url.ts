import { maskPhoneNumbersInUrl } from './phone.js';

// Credentials that a careless client may put in a URL: the auth hook refuses them, logs must not keep them.
const SECRET_NAME = /^(api[_-]?key|access[_-]?token|key|token|authorization)$/i;

function decodedName(name: string): string {
  if (!name.includes('%')) return name;
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** Whether a query string parameter name is one that carries credentials, however it is escaped. */
export function isSecretParameter(name: string): boolean {
  return SECRET_NAME.test(decodedName(name));
}

/** The request URL as logs may show it: query string kept, phone numbers masked, credentials removed. */
export function urlForLog(url: string): string {
  const masked = maskPhoneNumbersInUrl(url);
  const queryStart = masked.indexOf('?');
  if (queryStart < 0) return masked;
  const [query = '', fragment] = masked.slice(queryStart + 1).split('#', 2);
  const pairs = query.split('&').map((pair) => {
    const name = pair.split('=', 1)[0] ?? '';
    return isSecretParameter(name) ? `${name}=[redacted]` : pair;
  });
  return `${masked.slice(0, queryStart + 1)}${pairs.join('&')}${fragment === undefined ? '' : `#${fragment}`}`;
}
