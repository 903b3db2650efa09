import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { urlForLog } from '../../src/shared/log-url.js';
import { BRAZIL_AREA_CODES } from '../../src/shared/phone.js';

const KEY_ID = '0123456789abcdef';
const SECRET = 'Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZmdoaWp';
const KEY = `rk_${KEY_ID}_${SECRET}`;
// Sent as it is, its %ad would be read as an escape: it is found in both forms.
const ADMIN_KEY = 'correct!horse$battery%adstaple;admin*key';

/** Every character as a %XX escape: what a client may send, and what Fastify decodes. */
const encodeAll = (text: string) =>
  [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

/** Percent-decoded byte by byte, never failing, as a reader of the log line would decode it. */
const decodeLeniently = (text: string) =>
  text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

describe('urlForLog', () => {
  it.each([
    ['/CompanyProducts?company_id=claro_11', '/CompanyProducts?company_id=claro_11'],
    [
      '/PhoneRecharges?phone_number=5511999999999&limit=2',
      '/PhoneRecharges?phone_number=5511*****9999&limit=2',
    ],
    ['/CompanyProducts?api_key=rk_0123456789abcdef_secret', '/CompanyProducts?api_key=[redacted]'],
    ['/x?a=1&access_token=abc&API-KEY=def#frag', '/x?a=1&access_token=[redacted]&API-KEY=[redacted]#frag'],
    ['/x?phone_number=%2B55%2011%2099999-9999&token=t', '/x?phone_number=5511*****9999&token=[redacted]'],
    ['/x?api%5Fkey=rk_secret&%E0=1', '/x?api%5Fkey=[redacted]&%E0=1'],
    // A parameter named for phone numbers is masked even when it holds no whole number.
    ['/x?Phone-Number=551199999&limit=2', '/x?Phone-Number=*****9999&limit=2'],
  ])('logs %s as %s', (url, expected) => {
    expect(urlForLog(url)).toBe(expected);
  });

  it.each([
    [`/CompanyProducts?x-api-key=${KEY}`, `/CompanyProducts?x-api-key=rk_${KEY_ID}_[redacted]`],
    [`/CompanyProducts?bearer=${KEY}&limit=2`, `/CompanyProducts?bearer=rk_${KEY_ID}_[redacted]&limit=2`],
    [`/CompanyProducts?auth=Bearer%20${KEY}`, `/CompanyProducts?auth=Bearer%20rk_${KEY_ID}_[redacted]`],
    [`/CompanyProducts?api_key[]=${KEY}`, `/CompanyProducts?api_key[]=rk_${KEY_ID}_[redacted]`],
    [`/CompanyProducts?auth=${encodeAll(KEY)}`, `/CompanyProducts?auth=rk_${KEY_ID}_[redacted]`],
    [`/CompanyProducts/${KEY}`, `/CompanyProducts/rk_${KEY_ID}_[redacted]`],
    [`/x?k=RK_${KEY_ID.toUpperCase()}_${SECRET.slice(0, 10)}`, `/x?k=RK_${KEY_ID.toUpperCase()}_[redacted]`],
    [`/x?k=rk_${SECRET.slice(0, 20)}`, '/x?k=[redacted]'],
    // A cut key keeps no more than its public id.
    [`/x?k=rk_${KEY_ID}_${SECRET.slice(0, 3)}`, '/x?k=[redacted]'],
  ])('redacts the key in %s, whatever its parameter, as %s', (url, expected) => {
    expect(urlForLog(url)).toBe(expected);
  });

  it.each([
    [`/x?q=${ADMIN_KEY}`, '/x?q=[redacted]'],
    [`/x?q=${encodeURIComponent(ADMIN_KEY)}&limit=2`, '/x?q=[redacted]&limit=2'],
    [`/x?q=${encodeAll(ADMIN_KEY)}`, '/x?q=[redacted]'],
    [`/${encodeAll(ADMIN_KEY)}x`, '/[redacted]x'],
  ])('redacts a configured secret of any characters in %s', (url, expected) => {
    expect(urlForLog(url, [ADMIN_KEY])).toBe(expected);
  });

  it.each([
    [
      '/x?token2=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    ],
    ['/x?q=4bf92f3577b34da6a3ce929d0e0e4736aa'],
    ['/x?q=a2V5OnNlY3JldC9rZXkrMTIzNDU2Nzg5MGFiY2RlZg=='],
    ['/x/test-admin-key-0123456789abcdefghijklmnopqrstuv'],
  ])('redacts a long opaque token nobody configured in %s', (url) => {
    expect(urlForLog(url)).toMatch(/^\/x(\/|\?[a-z0-9]+=)\[redacted\]=*$/);
  });

  it.each([
    ['/PhoneRecharges?phone%5Fnumber=5511999999999', '/PhoneRecharges?phone%5Fnumber=5511*****9999'],
    ['/PhoneRecharges?PHONE_NUMBER=5511999999999', '/PhoneRecharges?PHONE_NUMBER=5511*****9999'],
    ['/PhoneRecharges?id=5511999999999', '/PhoneRecharges?id=5511*****9999'],
    ['/PhoneRecharges/5511999999999', '/PhoneRecharges/5511*****9999'],
    ['/PhoneRecharges/%2B55%20(11)%2099999-9999/x', '/PhoneRecharges/5511*****9999/x'],
    ['/x?q=55+11+99999+9999&limit=2', '/x?q=5511*****9999&limit=2'],
    ['/x?q=%2B55.11.98765.4321', '/x?q=5511*****4321'],
    [`/x?q=${encodeAll('5521987654321')}`, '/x?q=5521*****4321'],
    ['/x?q=(21)%2098765-4321', '/x?q=21*****4321'],
    ['/x?q=0055%2011%2099999%209999', '/x?q=005511*****9999'],
    ['/x?q=7%205511999999999', '/x?q=7%205511*****9999'],
    // A number that could start earlier (219…) masks both: neither is left half shown.
    ['/x?q=219%205511987654321', '/x?q=************4321'],
    ['/x?a=5511999999999&b=5521987654321', '/x?a=5511*****9999&b=5521*****4321'],
  ])('masks the phone number in %s as %s', (url, expected) => {
    expect(urlForLog(url)).toBe(expected);
  });

  it.each([
    '/CompanyProducts',
    '/healthz',
    '/PhoneRecharges?id=01900000-0000-7000-8000-000000000000',
    '/AuditEvents?limit=500&cursor=1234',
    '/docs/static/swagger-ui-standalone-preset.js',
    '/CompanyProducts?company_id=claro_region_sao_paulo_and_the_rest',
    '/x?q=%E0%A4%A&limit=2',
  ])('leaves %s as it is', (url) => {
    expect(urlForLog(url)).toBe(url);
  });
});

const digits = (length: number) =>
  fc.array(fc.constantFrom(...'0123456789'), { minLength: length, maxLength: length }).map((d) => d.join(''));

/** A Brazilian mobile number, with or without the country code. */
const mobileNumber = fc
  .tuple(fc.boolean(), fc.constantFrom(...BRAZIL_AREA_CODES), digits(8))
  .map(([hasCountryCode, areaCode, rest]) => `${hasCountryCode ? '55' : ''}${areaCode}9${rest}`);

/** Up to two separators in each gap, a leading + sometimes: how people write numbers. */
const written = (number: string) =>
  fc
    .tuple(
      fc.boolean(),
      fc.array(fc.array(fc.constantFrom(' ', '-', '.', '(', ')'), { maxLength: 2 }), {
        minLength: number.length,
        maxLength: number.length,
      }),
    )
    .map(([plus, gaps]) =>
      [...number].reduce(
        (text, digit, index) => `${text}${index === 0 ? '' : (gaps[index]?.join('') ?? '')}${digit}`,
        plus ? '+' : '',
      ),
    );

const encoded = (text: string) =>
  fc.constantFrom(
    text,
    encodeURIComponent(text),
    encodeURIComponent(text).replaceAll('%20', '+'),
    encodeAll(text),
  );

const placed = (value: string) =>
  fc
    .tuple(
      fc.constantFrom('phone_number', 'phone%5Fnumber', 'PHONE_NUMBER', 'id', 'q', 'x-api-key'),
      fc.stringMatching(/^[a-z_]{0,8}$/),
      fc.boolean(),
    )
    .map(([name, context, inPath]) =>
      inPath ? `/PhoneRecharges/${context}${value}` : `/PhoneRecharges?limit=2&${name}=${context}${value}`,
    );

describe('urlForLog on generated input', () => {
  it('when a mobile number is written, encoded and placed anywhere, then no more than four of its digits stay together', () => {
    fc.assert(
      fc.property(mobileNumber.chain(written).chain(encoded).chain(placed), (url) => {
        const shown = decodeLeniently(urlForLog(url)).replace(/[ +().-]/g, '');
        expect(shown).not.toMatch(/[0-9]{5}/);
        // Masked, or redacted whole with the longer token it is part of.
        expect(shown).toMatch(/\*{5}|\[redacted\]/);
      }),
    );
  });

  it('when a key is encoded and placed anywhere, then its secret never shows', () => {
    const key = fc
      .tuple(fc.stringMatching(/^[0-9a-f]{16}$/), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/))
      .map(([id, secret]) => ({ id, secret, key: `rk_${id}_${secret}` }));
    fc.assert(
      fc.property(
        key.chain(({ key: text, ...rest }) =>
          encoded(text)
            .chain(placed)
            .map((url) => ({ ...rest, url })),
        ),
        ({ id, secret, url }) => {
          const shown = decodeLeniently(urlForLog(url));
          expect(shown).not.toContain(secret.slice(0, 8));
          expect(shown).toContain('[redacted]');
          expect(shown).not.toMatch(new RegExp(`rk_(?!${id}_\\[redacted\\])`, 'i'));
        },
      ),
    );
  });
});
