import { maskPhoneNumbersInUrl } from './phone.js';

// Credentials that a careless client may put in a URL (the auth hook refuses them; logs must not keep them).
const SECRET_PARAM = /([?&](?:api[_-]?key|access[_-]?token|key|token|authorization)=)[^&#]*/gi;

/** The request URL as logs may show it: query string kept, phone numbers masked, credentials removed. */
export function urlForLog(url: string): string {
  return maskPhoneNumbersInUrl(url).replace(SECRET_PARAM, '$1[redacted]');
}
