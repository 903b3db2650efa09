export const MIN_VALUE_CENTS = 1;
export const MAX_VALUE_CENTS = 1_000_000;

// At most two decimals, no exponent, no leading zeros: exactly what String(number) yields for such values.
const DECIMAL_AMOUNT = /^(-)?(0|[1-9]\d*)(?:\.(\d{1,2}))?$/;

// Shared by toCents and by callers/tests that need to read a formatted amount back.
export function parseDecimalToCents(text: string): number | null {
  const match = DECIMAL_AMOUNT.exec(text);
  if (match === null) return null;
  const [, sign, whole = '', fraction = ''] = match;
  // Concatenating digits keeps the conversion exact; no multiplication of a fractional value.
  const cents = Number(whole + fraction.padEnd(2, '0'));
  if (!Number.isSafeInteger(cents)) return null;
  return sign === '-' ? -cents : cents;
}

export function toCents(value: number): number | null {
  if (!Number.isFinite(value)) return null;
  // String(value) is the shortest round-trip representation, so it shows the decimals the sender wrote.
  return parseDecimalToCents(String(value));
}

export function fromCents(cents: number): number {
  // One correctly rounded division yields the double whose shortest representation is the exact decimal.
  return cents / 100;
}

export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`cents must be a safe integer, got ${cents}`);
  const digits = String(Math.abs(cents)).padStart(3, '0');
  const sign = cents < 0 ? '-' : '';
  return `${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

export function isMoneyValue(value: number): boolean {
  const cents = toCents(value);
  return cents !== null && cents >= MIN_VALUE_CENTS && cents <= MAX_VALUE_CENTS;
}
