import fc from 'fast-check';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BRAZIL_AREA_CODES, maskPhoneNumber, normalizePhoneNumber } from '../../src/shared/phone.js';

const ALL_TWO_DIGIT_CODES = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const NON_EXISTENT_AREA_CODES = ALL_TWO_DIGIT_CODES.filter((code) => !BRAZIL_AREA_CODES.has(code));
const SEPARATORS = [' ', '-', '.', '(', ')'] as const;

const digitString = (length: number) =>
  fc.array(fc.integer({ min: 0, max: 9 }), { minLength: length, maxLength: length }).map((d) => d.join(''));

const validMobile = fc
  .tuple(fc.constantFrom(...BRAZIL_AREA_CODES), digitString(8))
  .map(([areaCode, rest]) => `55${areaCode}9${rest}`);

// At most one separator per gap keeps the result within the 32-character limit.
const withSeparators = (digits: string) =>
  fc
    .tuple(
      fc.boolean(),
      fc.array(fc.option(fc.constantFrom(...SEPARATORS), { nil: '' }), {
        minLength: digits.length + 1,
        maxLength: digits.length + 1,
      }),
    )
    .map(([plus, gaps]) => {
      let text = plus ? '+' : '';
      for (let i = 0; i < digits.length; i++) text += (gaps[i] ?? '') + digits.charAt(i);
      return text + (gaps[digits.length] ?? '');
    });

const hasDisallowedChar = (text: string) => /[^0-9+ ().-]/.test(text);

describe('normalizePhoneNumber', () => {
  it('when given the digits-only number 5511999999999, then it is accepted as is', () => {
    expect(normalizePhoneNumber('5511999999999')).toBe('5511999999999');
  });

  it.each(['+55 (11) 99999-9999', '55.11.99999.9999', '+55 11 9 9999 9999', '+5511999999999'])(
    'when given the formatted number %j, then it returns the digits-only form',
    (input) => {
      expect(normalizePhoneNumber(input)).toBe('5511999999999');
    },
  );

  it('when answers are remembered, then they stay right past the bound, asked again or not', () => {
    const valid = '5511999999999';
    const invalid = '5520999999999'; // DDD 20 does not exist
    expect([normalizePhoneNumber(valid), normalizePhoneNumber(invalid)]).toEqual([valid, null]);
    // More distinct inputs than are remembered, so both answers above are forgotten along the way.
    for (let index = 0; index < 5000; index++) {
      const digits = `55219${String(index).padStart(8, '0')}`;
      expect(normalizePhoneNumber(digits)).toBe(digits);
      expect(normalizePhoneNumber(digits)).toBe(digits);
    }
    expect([normalizePhoneNumber(valid), normalizePhoneNumber(invalid)]).toEqual([valid, null]);
    expect([normalizePhoneNumber(valid), normalizePhoneNumber(invalid)]).toEqual([valid, null]);
  });

  it('when the subscriber number starts with 90, then libphonenumber still accepts it', () => {
    expect(normalizePhoneNumber('5511900000000')).toBe('5511900000000');
  });

  it('when any generated valid mobile number is given, then the result equals its digits', () => {
    fc.assert(
      fc.property(validMobile, (digits) => {
        expect(normalizePhoneNumber(digits)).toBe(digits);
      }),
    );
  });

  it('when separators and a leading + are inserted anywhere, then the result is unchanged', () => {
    fc.assert(
      fc.property(
        validMobile.chain((digits) => fc.tuple(fc.constant(digits), withSeparators(digits))),
        ([digits, formatted]) => {
          expect(normalizePhoneNumber(formatted)).toBe(digits);
        },
      ),
    );
  });

  it('when a valid mobile is accepted, then libphonenumber independently classifies it as mobile', () => {
    fc.assert(
      fc.property(validMobile, (digits) => {
        const parsed = parsePhoneNumberFromString(`+${digits}`, 'BR');
        expect(parsed?.isValid()).toBe(true);
        expect(parsed?.getType()).toBe('MOBILE');
      }),
      { numRuns: 50 },
    );
  });

  it('when the area code set is compared with libphonenumber, then both accept exactly the same codes', () => {
    const acceptedByLibrary = ALL_TWO_DIGIT_CODES.filter(
      (code) => parsePhoneNumberFromString(`+55${code}999999999`, 'BR')?.getType() === 'MOBILE',
    );
    expect(acceptedByLibrary).toEqual([...BRAZIL_AREA_CODES]);
    expect(BRAZIL_AREA_CODES.size).toBe(67);
  });

  it('when the area code does not exist (every 00–99 code outside the list), then it returns null', () => {
    expect(NON_EXISTENT_AREA_CODES).toContain('20');
    const accepted = NON_EXISTENT_AREA_CODES.filter(
      (code) => normalizePhoneNumber(`55${code}999999999`) !== null,
    );
    expect(accepted).toEqual([]);
  });

  it.each([
    ['a landline (12 digits)', '551133334444'],
    ['13 digits whose subscriber part starts with 3', '5511333344445'],
    ['13 digits whose subscriber part starts with 8', '5511899999999'],
    ['12 digits', '551199999999'],
    ['14 digits', '55119999999999'],
    ['the Argentine country code', '5411999999999'],
    ['the NANP country code', '1119999999999'],
    ['a national number without country code', '11999999999'],
  ])('when given %s, then it returns null', (_label, input) => {
    expect(normalizePhoneNumber(input)).toBeNull();
  });

  it.each([
    ['an empty string', ''],
    ['only a plus', '+'],
    ['only separators', ' ()-. '],
    ['letters', 'phone'],
    ['a letter among digits', '55119999x9999'],
    ['a double plus', '++5511999999999'],
    ['a plus not at the start', '55+11999999999'],
    ['a trailing plus', '5511999999999+'],
    ['a tab separator', '55\t11999999999'],
    ['a slash separator', '55/11/999999999'],
    ['a non-ASCII digit', '5511999999٩99'],
    ['more than 32 characters', '+55 (11) 9 - 9 - 9 - 9 - 9 - 9999'],
  ])('when given %s, then it returns null', (_label, input) => {
    expect(normalizePhoneNumber(input)).toBeNull();
  });

  it('when the formatted input is exactly 32 characters, then it is still accepted', () => {
    const input = '+55 (11) 9 9 9 9 9 - 9 9 9 9....';
    expect(input).toHaveLength(32);
    expect(normalizePhoneNumber(input)).toBe('5511999999999');
  });

  it('when a string contains a character outside the allowed set, then it returns null', () => {
    fc.assert(
      fc.property(fc.string().filter(hasDisallowedChar), (input) => {
        expect(normalizePhoneNumber(input)).toBeNull();
      }),
    );
  });

  it('when one disallowed character is inserted into a valid number, then it returns null', () => {
    const disallowed = fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }).filter(hasDisallowedChar);
    fc.assert(
      fc.property(validMobile, disallowed, fc.nat(13), (digits, char, at) => {
        expect(normalizePhoneNumber(digits.slice(0, at) + char + digits.slice(at))).toBeNull();
      }),
    );
  });

  it('when given any string, then it returns null or 13 digits with an existing area code', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (input) => {
        const result = normalizePhoneNumber(input);
        if (result !== null) {
          expect(result).toMatch(/^55\d{2}9\d{8}$/);
          expect(BRAZIL_AREA_CODES.has(result.slice(2, 4))).toBe(true);
        }
      }),
    );
  });
});

describe('maskPhoneNumber', () => {
  it.each([
    ['5511999999999', '5511*****9999'],
    ['5521987654321', '5521*****4321'],
    ['+55 (21) 98765-4321', '5521*****4321'],
    ['(21) 98765-4321', '21*****4321'],
    ['123456789', '*****6789'],
    ['5521987654321000', '************1000'],
    ['12345678', '********'],
    ['123', '***'],
    ['', ''],
  ])('when given %j, then it returns %j', (input, expected) => {
    expect(maskPhoneNumber(input)).toBe(expected);
  });

  it('when a valid number is masked, then length and both ends are kept and the middle is all *', () => {
    fc.assert(
      fc.property(validMobile, (digits) => {
        const masked = maskPhoneNumber(digits);
        expect(masked).toHaveLength(digits.length);
        expect(masked.slice(0, 4)).toBe(digits.slice(0, 4));
        expect(masked.slice(-4)).toBe(digits.slice(-4));
        expect(masked.slice(4, -4)).toBe('*****');
      }),
    );
  });

  it('when a digit string of length at most 8 is masked, then nothing is revealed', () => {
    fc.assert(
      fc.property(fc.nat(8).chain(digitString), (digits) => {
        expect(maskPhoneNumber(digits)).toBe('*'.repeat(digits.length));
      }),
    );
  });
});

describe('normalizePhoneNumber when libphonenumber metadata disagrees', () => {
  afterEach(() => {
    vi.doUnmock('libphonenumber-js/max');
    vi.resetModules();
  });

  const loadWith = async (
    parsed: { isValid: () => boolean; getType: () => string | undefined } | undefined,
  ) => {
    vi.resetModules();
    vi.doMock('libphonenumber-js/max', () => ({ parsePhoneNumberFromString: () => parsed }));
    return (await import('../../src/shared/phone.js')).normalizePhoneNumber;
  };

  it.each([
    ['cannot parse the number', undefined],
    ['marks the number invalid', { isValid: () => false, getType: () => undefined }],
    ['classifies it as a fixed line', { isValid: () => true, getType: () => 'FIXED_LINE' }],
  ])('when the library %s, then it returns null', async (_label, parsed) => {
    const normalize = await loadWith(parsed);
    expect(normalize('5511999999999')).toBeNull();
  });

  it('when the library says FIXED_LINE_OR_MOBILE, then the number is accepted', async () => {
    const normalize = await loadWith({ isValid: () => true, getType: () => 'FIXED_LINE_OR_MOBILE' });
    expect(normalize('5511999999999')).toBe('5511999999999');
  });
});
