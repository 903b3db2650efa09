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
    } else if (match[2] !== undefined && frame && 'keys' in frame) {
      const raw = match[1] as string;
      const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      frame.key = key;
      if (frame.keys.has(key)) return pointerTo(frames);
      frame.keys.add(key);
    }
  }
  return undefined;
}

/** An open object (its keys so far, the latest last) or array (the index of the current element). */
type Frame = { keys: Set<string>; key: string } | { index: number };

// A string (group 1 its raw content, group 2 the `:` that makes it a key), or a structural character.
const TOKENS = /"([^"\\]*(?:\\.[^"\\]*)*)"(\s*:)?|[{}[\],]/g;

function pointerTo(frames: Frame[]): string {
  return frames
    .map(
      (frame) => `/${'keys' in frame ? frame.key.replaceAll('~', '~0').replaceAll('/', '~1') : frame.index}`,
    )
    .join('');
}
