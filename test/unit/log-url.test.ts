import { describe, expect, it } from 'vitest';
import { urlForLog } from '../../src/shared/log-url.js';

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
  ])('logs %s as %s', (url, expected) => {
    expect(urlForLog(url)).toBe(expected);
  });
});
