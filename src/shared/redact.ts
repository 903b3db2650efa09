/**
 * Finds what logs must not keep by what it looks like, not by the name it is sent under: callers put keys
 * and phone numbers under any parameter name, in any case, percent-encoded, or in the path.
 *
 * - our API keys (`rk_` + 16 hex digits + `_` + secret), however cut; the key id, which is public, stays
 *   readable, so that whoever reads the log can revoke the key;
 * - the configured secrets (the bootstrap `ADMIN_API_KEY`, which may be any string), verbatim;
 * - in URLs, long opaque tokens (32+ characters of a token alphabet mixing letters and digits), for the
 *   secrets nobody configured here (a rotated admin key, another service's token); UUIDs are ids, not secrets;
 * - Brazilian mobile numbers, however written (phone.ts), masked to the DDD and the last four digits.
 */

import {
  findPhoneNumbers,
  isDigitCode,
  isSeparatorCode,
  LOCAL_NUMBER_DIGITS,
  MAX_SEPARATORS,
} from './phone.js';

type Finding = { start: number; end: number; replacement: string };

export const REDACTED = '[redacted]';

const KEY = /(?<![A-Za-z0-9])rk_(?:([0-9a-f]{16})_)?[A-Za-z0-9_-]{8,}/gi;
// '/' ends a path segment, but base64 secrets carry it in query values.
const OPAQUE_IN_PATH = /[A-Za-z0-9_~.+-]{32,}/g;
const OPAQUE_IN_QUERY = /[A-Za-z0-9_~.+/-]{32,}/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const WHOLE_UUID = new RegExp(`^${UUID.source}$`, 'i');
const LETTER = /[A-Za-z]/;
const DIGIT = /[0-9]/;
const MIN_OPAQUE = 32;

const isTokenCode = (code: number) =>
  isDigitCode(code) ||
  (code >= 65 && code <= 90) ||
  (code >= 97 && code <= 122) ||
  code === 95 || // _
  code === 126 || // ~
  code === 43 || // +
  code === 45 || // -
  code === 46 || // .
  code === 47; // /

/**
 * Whether `url` may hold anything to redact: one pass over its characters that mirrors the searches below
 * (digits joined as a number would be, token runs, `rk_`, escapes), so that the URL of most requests costs
 * no regular expression at all: the log line of each request is written with it.
 */
function mayHoldSensitive(url: string, secrets: readonly string[]): boolean {
  let digits = 0;
  let separators = 0;
  let runStart = 0;
  for (let index = 0; index <= url.length; index += 1) {
    const code = index < url.length ? url.charCodeAt(index) : -1;
    if (code === 37) return true; // %: anything may hide behind an escape
    // rk_, in any case
    if (code === 95 && (url.charCodeAt(index - 1) | 32) === 107 && (url.charCodeAt(index - 2) | 32) === 114) {
      return true;
    }
    if (isDigitCode(code)) {
      digits += 1;
      separators = 0;
      if (digits >= LOCAL_NUMBER_DIGITS) return true;
    } else if (isSeparatorCode(code) && separators < MAX_SEPARATORS) {
      separators += 1;
    } else {
      digits = 0;
      separators = isSeparatorCode(code) ? MAX_SEPARATORS : 0;
    }
    if (!isTokenCode(code)) {
      const run = index - runStart;
      if (run >= MIN_OPAQUE && !(run === 36 && WHOLE_UUID.test(url.slice(runStart, index)))) return true;
      runStart = index + 1;
    }
  }
  return secrets.some((secret) => url.includes(secret));
}

/** Percent-escapes decoded byte by byte (never throws), with where each decoded character starts in `raw`. */
function percentDecoded(raw: string): { text: string; offsets: number[] } {
  let text = '';
  const offsets: number[] = [];
  for (let index = 0; index < raw.length; ) {
    offsets.push(index);
    const hex = raw.charCodeAt(index) === 37 ? raw.slice(index + 1, index + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      text += String.fromCharCode(Number.parseInt(hex, 16));
      index += 3;
    } else {
      text += raw[index];
      index += 1;
    }
  }
  offsets.push(raw.length);
  return { text, offsets };
}

function findSecrets(text: string, secrets: readonly string[], findings: Finding[]): void {
  for (const secret of secrets) {
    for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + secret.length)) {
      findings.push({ start: at, end: at + secret.length, replacement: REDACTED });
    }
  }
}

/** A secret with a % of its own may also stand undecoded in `raw`: found there, mapped onto `text`. */
function findRawSecrets(raw: string, offsets: number[], secrets: readonly string[], findings: Finding[]) {
  const textIndex = (rawIndex: number, isEnd: boolean) => {
    const index = offsets.findIndex((offset) => offset >= rawIndex);
    return !isEnd && offsets[index] !== rawIndex ? index - 1 : index;
  };
  for (const secret of secrets) {
    for (let at = raw.indexOf(secret); at >= 0; at = raw.indexOf(secret, at + secret.length)) {
      const replacement = REDACTED;
      findings.push({ start: textIndex(at, false), end: textIndex(at + secret.length, true), replacement });
    }
  }
}

function findKeys(text: string, findings: Finding[]): void {
  for (const match of text.matchAll(KEY)) {
    // rk_, the id and _: 20 characters, in the case they were sent in.
    const replacement = match[1] === undefined ? REDACTED : `${match[0].slice(0, 20)}${REDACTED}`;
    findings.push({ start: match.index, end: match.index + match[0].length, replacement });
  }
}

function findOpaqueTokens(text: string, from: number, to: number, pattern: RegExp, findings: Finding[]) {
  for (const match of text.slice(from, to).matchAll(pattern)) {
    const token = match[0];
    if (!LETTER.test(token) || !DIGIT.test(token) || WHOLE_UUID.test(token)) continue;
    findings.push({
      start: from + match.index,
      end: from + match.index + token.length,
      replacement: REDACTED,
    });
  }
}

/** `raw` with each finding (positions in `text`, which `offsets` maps back to `raw`) replaced. */
function replaced(raw: string, findings: Finding[], offsets: number[] | null): string {
  if (findings.length === 0) return raw;
  // Findings are pushed most specific first (a key before the opaque token it also is); among equal
  // stretches the sort keeps that order, and what lies within an earlier finding goes with it.
  findings.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Finding[] = [];
  for (const finding of findings) {
    const last = merged.at(-1);
    if (last && finding.start < last.end) {
      if (finding.end <= last.end) continue;
      // Overlapping, neither within the other: the whole stretch goes.
      last.end = finding.end;
      last.replacement = REDACTED;
    } else {
      merged.push({ ...finding });
    }
  }
  let result = '';
  let at = 0;
  for (const { start, end, replacement } of merged) {
    const rawStart = offsets ? (offsets[start] ?? raw.length) : start;
    result += raw.slice(at, rawStart) + replacement;
    at = offsets ? (offsets[end] ?? raw.length) : end;
  }
  return result + raw.slice(at);
}

/** `url` with keys, `secrets`, long opaque tokens and phone numbers replaced, in its path and query alike. */
export function redactUrl(url: string, secrets: readonly string[]): string {
  if (!mayHoldSensitive(url, secrets)) return url;
  const decoded = url.includes('%') ? percentDecoded(url) : null;
  const text = decoded?.text ?? url;
  const rawQueryStart = url.indexOf('?');
  const queryStart =
    rawQueryStart < 0 ? text.length : decoded ? decoded.offsets.indexOf(rawQueryStart) : rawQueryStart;
  const findings: Finding[] = [];
  findKeys(text, findings);
  findings.push(...findPhoneNumbers(text));
  findSecrets(text, secrets, findings);
  if (decoded) findRawSecrets(url, decoded.offsets, secrets, findings);
  findOpaqueTokens(text, 0, queryStart, OPAQUE_IN_PATH, findings);
  findOpaqueTokens(text, queryStart, text.length, OPAQUE_IN_QUERY, findings);
  return replaced(url, findings, decoded?.offsets ?? null);
}

/** Whether a short value (a request id) holds a key, one of `secrets` or a phone number. */
export function holdsSensitiveValue(value: string, secrets: readonly string[]): boolean {
  if (!mayHoldSensitive(value, secrets)) return false;
  const findings: Finding[] = [];
  findSecrets(value, secrets, findings);
  findKeys(value, findings);
  return findings.length > 0 || findPhoneNumbers(value).length > 0;
}
