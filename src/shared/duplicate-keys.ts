/**
 * Finds an object key that a JSON text gives twice in one object, at any depth, comparing keys after their
 * escapes are decoded (`"a"` and `"\u0061"` are the same key). `JSON.parse` keeps the last value of a
 * repeated key, while a proxy or firewall in front of the API may read the first: refusing repeats keeps
 * them agreeing on what was sent.
 *
 * Call it only on text `JSON.parse` has accepted: in valid JSON a `"` outside a string always opens one,
 * so one regular expression walks every string token, and a string followed by `:` is a key. No library
 * fits: jsonc-parser's visitor recurses and overflows the stack on nesting that `JSON.parse` accepts,
 * @humanwhocodes/momoa builds a whole syntax tree (about 20 times slower), lossless-json lets a key repeat
 * when both values are equal, json-dup-key-validator is unmaintained. This pass costs under a microsecond on a
 * recharge and a few milliseconds on a 256 KiB body (one to three times what `JSON.parse` spends on it).
 *
 * Returns the JSON Pointer of the repeated key, or undefined when every key is given once.
 */
export function findDuplicateKey(text: string): string | undefined {
  return scan(text, isRepeated);
}

function isRepeated(frame: { keys: Set<string> }, key: string): boolean {
  if (frame.keys.has(key)) return true;
  frame.keys.add(key);
  return false;
}

/**
 * Finds a number whose literal has more significant digits than a double holds exactly (15): `JSON.parse`
 * would round it silently, so `0.009999999999999999999` would arrive as 0.01 and pass a check of two
 * decimals that the sender did not meet. Call it only on text `JSON.parse` has accepted.
 *
 * Returns the JSON Pointer of the first such number, or undefined.
 */
export function findInexactNumber(text: string): string | undefined {
  return scan(text, undefined, isInexact);
}

/**
 * Both checks in one walk of a request body, as the JSON parser runs them: a repeated key is named first,
 * wherever it stands, then the first inexact number.
 */
export function findBodyProblem(
  text: string,
): { kind: 'repeated key' | 'inexact number'; path: string } | undefined {
  let inexact: string | undefined;
  const repeated = scan(text, isRepeated, (literal, pointer) => {
    if (inexact === undefined && isInexact(literal)) inexact = pointer();
    return false;
  });
  if (repeated !== undefined) return { kind: 'repeated key', path: repeated };
  return inexact === undefined ? undefined : { kind: 'inexact number', path: inexact };
}

function isInexact(literal: string): boolean {
  return significantDigits(literal) > EXACT_DIGITS;
}

const EXACT_DIGITS = 15;

function significantDigits(literal: string): number {
  const mantissa = literal
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '');
  return mantissa.replace(/^0+/, '').replace(/0+$/, '').length;
}

/**
 * Walks the tokens of a JSON text, keeping the path to the current value; answers the JSON Pointer where
 * `onKey` (given each key with its object's frame) or `onNumber` (given each number literal) says true.
 */
function scan(
  text: string,
  onKey?: (frame: { keys: Set<string>; key: string }, key: string) => boolean,
  onNumber?: (literal: string, pointer: () => string) => boolean,
): string | undefined {
  const frames: Frame[] = [];
  TOKENS.lastIndex = 0;
  for (let match = TOKENS.exec(text); match !== null; match = TOKENS.exec(text)) {
    const token = match[0];
    const frame = frames[frames.length - 1];
    if (token === '{') frames.push({ keys: new Set(), key: '' });
    else if (token === '[') frames.push({ index: 0 });
    else if (token === '}' || token === ']') frames.pop();
    else if (token === ',') {
      if (frame && 'index' in frame) frame.index += 1;
    } else if (match[3] !== undefined) {
      const pointer = () => (frames.length > 0 ? pointerTo(frames) : '/');
      if (onNumber?.(match[3], pointer)) return pointer();
    } else if (match[2] !== undefined && frame && 'keys' in frame) {
      const raw = match[1] as string;
      const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      frame.key = key;
      if (onKey?.(frame, key)) return pointerTo(frames);
    }
  }
  return undefined;
}

/** An open object (its keys so far, the latest last) or array (the index of the current element). */
type Frame = { keys: Set<string>; key: string } | { index: number };

// A string (group 1 its raw content, group 2 the `:` that makes it a key), a number (group 3), or a
// structural character.
const TOKENS = /"([^"\\]*(?:\\.[^"\\]*)*)"(\s*:)?|(-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)|[{}[\],]/g;

function pointerTo(frames: Frame[]): string {
  return frames
    .map(
      (frame) => `/${'keys' in frame ? frame.key.replaceAll('~', '~0').replaceAll('/', '~1') : frame.index}`,
    )
    .join('');
}
