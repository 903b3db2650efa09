import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findBodyProblem, findDuplicateKey, findInexactNumber } from '../../src/shared/duplicate-keys.js';

/** A JSON string literal of `key` with every UTF-16 unit escaped as \uXXXX: the same key, spelt otherwise. */
const escaped = (key: string) =>
  `"${Array.from({ length: key.length }, (_, index) => `\\u${key.charCodeAt(index).toString(16).padStart(4, '0')}`).join('')}"`;

// Any Unicode text, astral characters (two UTF-16 units each) included.
const text = fc.string({ unit: 'binary' });
const jsonValue = fc.jsonValue({ stringUnit: 'binary' });

describe('findDuplicateKey', () => {
  it.each([
    ['{"a":1,"a":2}', '/a'],
    ['{"a":1,"b":{"c":true},"a":1}', '/a'],
    ['{"a":{"b":1,"b":1}}', '/a/b'],
    ['[{"a":1},{"b":[0,{"c":1,"c":2}]}]', '/1/b/1/c'],
    ['{"products":[{"id":"a","value":1},{"id":"b","value":2,"id":"c"}]}', '/products/1/id'],
    ['{"a":1,"\\u0061":2}', '/a'],
    ['{"a/b~":1,"a\\/b~":2}', '/a~1b~0'],
    ['{"\\ud83d\\ude00":1,"😀":2}', '/😀'],
    ['{"":1,"":2}', '/'],
    ['{ "a" : 1 ,\n  "a"\t: 2 }', '/a'],
  ])('when %s repeats a key, then its JSON pointer %s', (text, pointer) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(findDuplicateKey(text)).toBe(pointer);
  });

  it.each([
    ['{"a":1,"A":2,"b":{"a":1}}'],
    ['[{"a":1},{"a":1}]'],
    ['{"a":"\\"a\\":","b":"{\\"a\\":1,","c":"}]","a2":["a",":"]}'],
    ['"{\\"a\\":1,\\"a\\":2}"'],
    ['[1,"x",null,true,{}]'],
    ['{"a\\\\":1,"a":2}'],
  ])('when %s gives each key once per object, then none', (text) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(findDuplicateKey(text)).toBeUndefined();
  });

  it('when any JSON value is serialized, compact or indented, then no key repeats', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        expect(findDuplicateKey(JSON.stringify(value))).toBeUndefined();
        expect(findDuplicateKey(JSON.stringify(value, null, 2))).toBeUndefined();
      }),
    );
  });

  it('when an object nested in any JSON value gives a key again, spelt with escapes, then that key is found', () => {
    fc.assert(
      fc.property(
        fc.dictionary(text, jsonValue, { minKeys: 1, maxKeys: 5 }),
        fc.array(jsonValue, { maxLength: 3 }),
        (object, siblings) => {
          const [key] = Object.keys(object) as [string];
          const inner = `${JSON.stringify(object).slice(0, -1)},${escaped(key)}:0}`;
          const text = `{"list":[${[...siblings.map((value) => JSON.stringify(value)), inner].join(',')}]}`;
          const pointerKey = key.replaceAll('~', '~0').replaceAll('/', '~1');
          expect(findDuplicateKey(text)).toBe(`/list/${siblings.length}/${pointerKey}`);
        },
      ),
    );
  });
});

describe('findInexactNumber', () => {
  it.each([
    ['{"value":0.009999999999999999999}', '/value'],
    ['{"products":[{"id":"a","value":10000.0000000000001}]}', '/products/0/value'],
    ['[1, 10.100000000000000001]', '/1'],
    ['12345678901234567', '/'],
    ['{"a":-1.2345678901234567e3}', '/a'],
  ])('when %s has a number JSON.parse would round, then its JSON pointer %s', (text, pointer) => {
    expect(() => JSON.parse(text)).not.toThrow();
    expect(findInexactNumber(text)).toBe(pointer);
  });

  it.each([
    '{"value":10.10}',
    '{"value":0.01,"n":123456789012345}',
    '{"a":"0.009999999999999999999"}',
    '[1e300, -0.5, 100000000000000000000]',
  ])('when %s has only numbers held exactly, then nothing', (text) => {
    expect(findInexactNumber(text)).toBeUndefined();
  });
});

describe('findBodyProblem', () => {
  it('names a repeated key before an inexact number, wherever each stands, in one walk', () => {
    expect(findBodyProblem('{"v":0.30000000000000004,"a":1,"a":2}')).toEqual({
      kind: 'repeated key',
      path: '/a',
    });
    expect(findBodyProblem('{"a":1,"v":[0.30000000000000004]}')).toEqual({
      kind: 'inexact number',
      path: '/v/0',
    });
    expect(findBodyProblem('{"a":1,"v":10.5}')).toBeUndefined();
  });
});
