import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

const MAX_INPUT_LENGTH = 32;
// Digits, one optional leading '+', and the separators people type when copying a number.
const ALLOWED_INPUT = /^\+?[0-9 ().-]*$/;
const SEPARATORS = /[+ ().-]/g;
// Country code 55, two-digit area code, then a nine-digit subscriber number that starts with 9.
const BRAZIL_MOBILE_DIGITS = /^55(\d{2})9\d{8}$/;

// Anatel's area codes (DDD); libphonenumber's BR mobile pattern uses exactly the same list.
export const BRAZIL_AREA_CODES: ReadonlySet<string> = new Set([
  ...['11', '12', '13', '14', '15', '16', '17', '18', '19'],
  ...['21', '22', '24', '27', '28'],
  ...['31', '32', '33', '34', '35', '37', '38'],
  ...['41', '42', '43', '44', '45', '46', '47', '48', '49'],
  ...['51', '53', '54', '55'],
  ...['61', '62', '63', '64', '65', '66', '67', '68', '69'],
  ...['71', '73', '74', '75', '77', '79'],
  ...['81', '82', '83', '84', '85', '86', '87', '88', '89'],
  ...['91', '92', '93', '94', '95', '96', '97', '98', '99'],
]);

// A recharge's number is checked twice (the body's format, then the service) and libphonenumber's parse is
// the costliest step of a recharge in the service (docs/performance.md): recent answers are kept, at most
// this many, the oldest going first. Inputs are at most 32 characters, so this holds well under 1 MB.
const REMEMBERED = 4096;
const remembered = new Map<string, string | null>();

/** The number as 55 + DDD + nine digits when it is a Brazilian mobile number, else null. */
export function normalizePhoneNumber(input: string): string | null {
  // Length first so the regex never runs on arbitrarily large input.
  if (input.length > MAX_INPUT_LENGTH || !ALLOWED_INPUT.test(input)) return null;
  const known = remembered.get(input);
  if (known !== undefined) return known;
  const answer = checkedPhoneNumber(input);
  if (remembered.size >= REMEMBERED) remembered.delete(remembered.keys().next().value as string);
  remembered.set(input, answer);
  return answer;
}

function checkedPhoneNumber(input: string): string | null {
  const digits = input.replace(SEPARATORS, '');
  const match = BRAZIL_MOBILE_DIGITS.exec(digits);
  const areaCode = match?.[1];
  if (areaCode === undefined || !BRAZIL_AREA_CODES.has(areaCode)) return null;
  // Second opinion from libphonenumber, so number-plan changes in its metadata are picked up.
  const parsed = parsePhoneNumberFromString(`+${digits}`, 'BR');
  if (parsed === undefined || !parsed.isValid()) return null;
  const type = parsed.getType();
  return type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE' ? digits : null;
}

const VISIBLE_PREFIX = 4;
const VISIBLE_SUFFIX = 4;

export function maskPhoneNumber(digits: string): string {
  const only = digits.replace(/\D/g, '');
  // Too short to reveal both ends without exposing (almost) the whole value.
  if (only.length <= VISIBLE_PREFIX + VISIBLE_SUFFIX) return '*'.repeat(only.length);
  return (
    only.slice(0, VISIBLE_PREFIX) +
    '*'.repeat(only.length - VISIBLE_PREFIX - VISIBLE_SUFFIX) +
    only.slice(-VISIBLE_SUFFIX)
  );
}

const PHONE_NUMBER_PARAM = /([?&]phone_number=)([^&#]*)/g;

export function maskPhoneNumbersInUrl(url: string): string {
  return url.replace(PHONE_NUMBER_PARAM, (_match, prefix: string, value: string) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      // Malformed escapes: the value cannot be read safely, so hide it entirely.
      return `${prefix}***`;
    }
    return prefix + maskPhoneNumber(decoded);
  });
}
