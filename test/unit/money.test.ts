import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatCents,
  fromCents,
  isMoneyValue,
  MAX_VALUE_CENTS,
  MIN_VALUE_CENTS,
  parseDecimalToCents,
  toCents,
} from '../../src/shared/money.js';

describe('toCents', () => {
  it.each([
    [10, 1000],
    [10.5, 1050],
    [10.05, 1005],
    [0.01, 1],
    [0.1, 10],
    [0, 0],
    [-0, 0],
    [-1, -100],
    [-0.5, -50],
    [10000, 1_000_000],
    [10000.01, 1_000_001],
    [1e13, 1e15],
  ])('when given %d, then it returns %d cents', (value, cents) => {
    expect(toCents(value)).toBe(cents);
  });

  it('when the JSON says 10, 10.0 or 10.00, then all parse to the same number and give 1000', () => {
    for (const text of ['10', '10.0', '10.00']) expect(toCents(JSON.parse(text))).toBe(1000);
  });

  it.each([
    ['three decimals', 10.005],
    ['three decimals below one', 0.001],
    ['the float sum 0.1 + 0.2', 0.1 + 0.2],
    ['an exponent form (1e21)', 1e21],
    ['a tiny exponent form (1e-7)', 1e-7],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a value whose cents exceed the safe-integer range', 1e17],
    ['the largest plain-notation value (1e20)', 1e20],
  ])('when given %s, then it returns null', (_label, value) => {
    expect(toCents(value)).toBeNull();
  });

  it('when a number has more than two decimals, then it returns null', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (value) => {
        const decimals = /\.(\d+)$/.exec(String(value))?.[1] ?? '';
        if (decimals.length > 2) expect(toCents(value)).toBeNull();
      }),
    );
  });
});

describe('parseDecimalToCents', () => {
  it.each([
    ['10.05', 1005],
    ['10.5', 1050],
    ['10', 1000],
    ['0.05', 5],
    ['-3.20', -320],
  ])('when given %j, then it returns %d', (text, cents) => {
    expect(parseDecimalToCents(text)).toBe(cents);
  });

  it.each(['', '10.', '.5', '010.00', '1e3', '10.005', '+10', ' 10', '10,00'])(
    'when given the malformed amount %j, then it returns null',
    (text) => {
      expect(parseDecimalToCents(text)).toBeNull();
    },
  );
});

describe('fromCents', () => {
  it.each([
    [1005, 10.05],
    [1000, 10],
    [5, 0.05],
    [-100, -1],
  ])('when given %d cents, then it returns %d', (cents, value) => {
    expect(fromCents(cents)).toBe(value);
  });
});

describe('formatCents', () => {
  it.each([
    [1005, '10.05'],
    [1000, '10.00'],
    [5, '0.05'],
    [50, '0.50'],
    [0, '0.00'],
    [1_000_000, '10000.00'],
    [-5, '-0.05'],
    [-1234, '-12.34'],
  ])('when given %d cents, then it returns %j', (cents, text) => {
    expect(formatCents(cents)).toBe(text);
  });

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    'when given the non-safe-integer %d, then it throws a RangeError',
    (cents) => {
      expect(() => formatCents(cents)).toThrow(RangeError);
    },
  );
});

describe('isMoneyValue', () => {
  it.each([
    [0.01, true],
    [10, true],
    [10.05, true],
    [10000, true],
    [0, false],
    [-1, false],
    [10000.01, false],
    [10.005, false],
    [0.1 + 0.2, false],
    [1e21, false],
    [Number.NaN, false],
  ])('when given %d, then it returns %s', (value, expected) => {
    expect(isMoneyValue(value)).toBe(expected);
  });

  it('when the bounds are read, then they are one cent and ten thousand reais', () => {
    expect(MIN_VALUE_CENTS).toBe(1);
    expect(MAX_VALUE_CENTS).toBe(1_000_000);
  });
});

describe('round trips', () => {
  const cents = fc.integer({ min: 0, max: 100_000_000 });

  it('when integer cents go through fromCents, then toCents gives them back exactly', () => {
    fc.assert(
      fc.property(cents, (c) => {
        expect(toCents(fromCents(c))).toBe(c);
      }),
    );
  });

  it('when integer cents are formatted, then parsing the text with the same regex gives them back', () => {
    fc.assert(
      fc.property(cents, (c) => {
        expect(parseDecimalToCents(formatCents(c))).toBe(c);
      }),
    );
  });

  it('when every cent value around the bounds round-trips, then there are no rounding holes', () => {
    for (let c = 0; c <= 10_000; c++) expect(toCents(fromCents(c))).toBe(c);
    for (let c = MAX_VALUE_CENTS - 10_000; c <= MAX_VALUE_CENTS; c++) expect(toCents(fromCents(c))).toBe(c);
  });

  it('when a JSON decimal with exactly two decimals is parsed, then formatting its cents gives the text back', () => {
    const twoDecimals = fc
      .tuple(fc.integer({ min: 0, max: 1_000_000_000_000 }), fc.integer({ min: 0, max: 99 }))
      .map(([whole, fraction]) => `${whole}.${String(fraction).padStart(2, '0')}`);
    fc.assert(
      fc.property(twoDecimals, (text) => {
        const c = toCents(JSON.parse(text));
        expect(c).not.toBeNull();
        if (c !== null) expect(formatCents(c)).toBe(text);
      }),
    );
  });
});
