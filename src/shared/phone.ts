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

const VISIBLE_SUFFIX = 4;
const FULL_NUMBER_DIGITS = 13; // 55 first
export const LOCAL_NUMBER_DIGITS = 11; // DDD, 9, eight digits
// Separators between two digits of one number: "(11) 9" has two, " - " three.
export const MAX_SEPARATORS = 3;
export const isDigitCode = (code: number) => code >= 48 && code <= 57;
// space + - . ( ): those people type, which normalizePhoneNumber accepts too
export const isSeparatorCode = (code: number) =>
  code === 32 || code === 43 || code === 45 || code === 46 || code === 40 || code === 41;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** A phone number found in some text: where it stands, and what to show instead. */
export type NumberInText = { start: number; end: number; replacement: string };

/**
 * The digits of `text` as logs may show them: the country code and DDD of a full number (5511*****9999), the
 * DDD of one without country code (11*****9999), then the last four digits; of anything else, the last four
 * digits only, and nothing of eight digits or fewer.
 */
export function maskPhoneNumber(text: string): string {
  const only = text.replace(/\D/g, '');
  if (only.length <= 2 * VISIBLE_SUFFIX) return '*'.repeat(only.length);
  const isFull = only.length === FULL_NUMBER_DIGITS && only.startsWith('55');
  const visible = isFull ? 4 : only.length === LOCAL_NUMBER_DIGITS ? 2 : 0;
  return (
    only.slice(0, visible) + '*'.repeat(only.length - visible - VISIBLE_SUFFIX) + only.slice(-VISIBLE_SUFFIX)
  );
}

/**
 * Brazilian mobile numbers anywhere in `text` (55 + DDD + nine digits starting with 9, or the same without
 * the 55), however written: digits joined by at most MAX_SEPARATORS separators form a group, which a UUID (an
 * id, whatever digits it has) ends.
 */
export function findPhoneNumbers(text: string): NumberInText[] {
  const found: NumberInText[] = [];
  const uuids = text.includes('-') ? text.matchAll(UUID) : null;
  let uuid = uuids?.next().value;
  const positions: number[] = []; // of the digits of the group so far
  let separators = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (index === uuid?.index) {
      endGroup(text, positions, found);
      index += uuid[0].length - 1;
      uuid = uuids?.next().value;
      separators = 0;
    } else if (isDigitCode(code)) {
      positions.push(index);
      separators = 0;
    } else if (isSeparatorCode(code) && separators < MAX_SEPARATORS) {
      separators += 1;
    } else {
      if (positions.length > 0) endGroup(text, positions, found);
      separators = isSeparatorCode(code) ? MAX_SEPARATORS : 0;
    }
  }
  endGroup(text, positions, found);
  return found;
}

/**
 * Every place in a group of digits where a number could start is tried, and overlapping candidates are
 * masked together, so that a number after other digits (a 00, a stray digit) cannot hide behind a candidate
 * that starts earlier. Empties `positions`.
 */
function endGroup(text: string, positions: number[], found: NumberInText[]): void {
  if (positions.length < LOCAL_NUMBER_DIGITS) {
    positions.length = 0;
    return;
  }
  const digits = positions.map((position) => text[position]).join('');
  const push = (start: number, end: number) => {
    const first = positions[start] ?? 0;
    // A leading + or ( belongs to the number ("+55 …", "(11) …"), so that only masked digits are left.
    const from = text[first - 1] === '+' || text[first - 1] === '(' ? first - 1 : first;
    const to = (positions[end - 1] ?? first) + 1;
    found.push({ start: from, end: to, replacement: maskPhoneNumber(digits.slice(start, end)) });
  };
  let start = -1;
  let end = -1;
  for (let index = 0; index + LOCAL_NUMBER_DIGITS <= digits.length; index += 1) {
    const length = candidateLength(digits, index);
    if (length === 0) continue;
    if (start >= 0 && index > end) push(start, end);
    if (start < 0 || index > end) start = index;
    end = Math.max(end, index + length);
  }
  if (start >= 0) push(start, end);
  positions.length = 0;
}

/** The digits of a number starting at `index`: 13 with the country code, 11 without, 0 for none. */
function candidateLength(digits: string, index: number): number {
  const hasCountryCode =
    index + FULL_NUMBER_DIGITS <= digits.length &&
    digits.startsWith('55', index) &&
    digits[index + 4] === '9';
  if (hasCountryCode) return FULL_NUMBER_DIGITS;
  return digits[index + 2] === '9' ? LOCAL_NUMBER_DIGITS : 0;
}
