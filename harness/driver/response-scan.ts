/**
 * What a target response says for the history (`versions`, and `value` for read-counter), read
 * from the body text by a scan instead of JSON.parse.
 *
 * Why not JSON.parse: the driver would only turn the parsed `versions` back into text for the
 * history line, and JSON.parse makes every distinct property name an internalized string and a
 * new hidden class, both allocated in V8's old generation. The names here are entity keys
 * ("user:4711"), thousands of distinct ones per run: at 5,000 req/s over 10,000 users that moved
 * ~4 MB per 10 s into the driver's old generation (0.3 MB without), doubled its scavenge pause
 * time and added a mark-compact (docs/architecture.md "Built-in load driver") — memory and
 * scheduling lag this process exists to keep small. The scan allocates only the text it returns.
 *
 * Contract: for a 2xx body, `scanResponse` gives exactly what
 * `parseResponse(op, status, JSON.parse(body))` (scenarios/workload.ts) gives, with `versions` as
 * the JSON.stringify of that object; or `undefined` when it cannot be sure without a full parse
 * (not 2xx, not a JSON object, malformed, escaped or non-BMP key text, integer-like or duplicate
 * version keys, `__proto__`, a non-finite value, deep nesting): the caller then takes the
 * JSON.parse path. test/driver-response-scan.test.ts holds it to that against random bodies.
 */
import type { Operation } from '../../scenarios/types.ts';

export interface ScannedResponse {
  /** The cleaned `versions` object as JSON text; absent when it holds no finite number. */
  versions: string | undefined;
  /** read-counter: the counter value the response carries. */
  value: number | undefined;
}

// The scan's state lives in module variables, not an object per response: nothing to allocate.
let s = '';
let p = 0;
/** Set by str(): the string's text needs decoding to be compared or re-emitted (escape, surrogate). */
let special = false;
const MAX_DEPTH = 64;
/** The members of the versions object being scanned (MEMBER numbers each). */
const spans: number[] = [];

function ws(): void {
  for (;;) {
    const c = s.charCodeAt(p);
    if (c === 32 || c === 10 || c === 13 || c === 9) p++;
    else return;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** A string at p (on its opening quote); p ends after the closing quote. */
function str(): boolean {
  p++;
  special = false;
  for (;;) {
    const c = s.charCodeAt(p);
    if (c === 34) {
      p++;
      return true;
    }
    if (!(c >= 0x20)) return false; // a control character, or the text ended (NaN)
    if (c === 92) {
      special = true;
      const e = s.charCodeAt(p + 1);
      if (e === 117) {
        for (let k = 2; k < 6; k++) if (!isHex(s.charCodeAt(p + k))) return false;
        p += 6;
      } else if (
        e === 34 ||
        e === 92 ||
        e === 47 ||
        e === 98 ||
        e === 102 ||
        e === 110 ||
        e === 114 ||
        e === 116
      )
        p += 2;
      else return false;
    } else {
      // JSON.stringify escapes a lone surrogate; rather than pair them up, leave any to the parse.
      if (c >= 0xd800 && c <= 0xdfff) special = true;
      p++;
    }
  }
}

/** A number at p (RFC 8259 grammar); true when valid. */
function num(): boolean {
  if (s.charCodeAt(p) === 45) p++;
  const c = s.charCodeAt(p);
  if (c === 48) p++;
  else if (c >= 49 && c <= 57) {
    p++;
    while (isDigit(s.charCodeAt(p))) p++;
  } else return false;
  if (s.charCodeAt(p) === 46) {
    p++;
    if (!isDigit(s.charCodeAt(p))) return false;
    while (isDigit(s.charCodeAt(p))) p++;
  }
  const e = s.charCodeAt(p);
  if (e === 101 || e === 69) {
    p++;
    const sign = s.charCodeAt(p);
    if (sign === 43 || sign === 45) p++;
    if (!isDigit(s.charCodeAt(p))) return false;
    while (isDigit(s.charCodeAt(p))) p++;
  }
  return true;
}

function literal(word: string): boolean {
  if (!s.startsWith(word, p)) return false;
  p += word.length;
  return true;
}

/** Skips any JSON value at p; false when malformed or nested deeper than MAX_DEPTH. */
function skipValue(depth: number): boolean {
  const c = s.charCodeAt(p);
  if (c === 34) return str();
  if (c === 45 || isDigit(c)) return num();
  if (c === 116) return literal('true');
  if (c === 102) return literal('false');
  if (c === 110) return literal('null');
  if (c !== 123 && c !== 91) return false;
  if (depth >= MAX_DEPTH) return false;
  const object = c === 123;
  const close = object ? 125 : 93;
  p++;
  ws();
  if (s.charCodeAt(p) === close) {
    p++;
    return true;
  }
  for (;;) {
    if (object) {
      if (s.charCodeAt(p) !== 34 || !str()) return false;
      ws();
      if (s.charCodeAt(p) !== 58) return false;
      p++;
      ws();
    }
    if (!skipValue(depth + 1)) return false;
    ws();
    const n = s.charCodeAt(p);
    p++;
    if (n === close) return true;
    if (n !== 44) return false;
    ws();
  }
}

/** The key at [a, b) (without quotes) is `word`. */
function keyIs(a: number, b: number, word: string): boolean {
  return b - a === word.length && s.startsWith(word, a);
}

/** Whether Object.entries would order the key [a, b) as an array index (all digits). */
function digitsOnly(a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return b > a;
}

/** A number's text at [a, b) is already what JSON.stringify prints for it (a short plain integer, not -0). */
function canonicalInteger(a: number, b: number): boolean {
  let i = a;
  if (s.charCodeAt(i) === 45) {
    i++;
    if (s.charCodeAt(i) === 48) return false;
  }
  if (b - i > 15) return false;
  for (; i < b; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

function sameKey(a: number, b: number, c: number, d: number): boolean {
  if (b - a !== d - c) return false;
  for (let i = 0; i < b - a; i++) if (s.charCodeAt(a + i) !== s.charCodeAt(c + i)) return false;
  return true;
}

const FAILED = Symbol('unsure');

/** Per version member, 5 numbers: key start, key end (quotes included), value start, value end, kind. */
const MEMBER = 5;
const DROPPED = 0;
const CANONICAL = 1;
const RENDER = 2;

/**
 * The `versions` object at p, cleaned as parseResponse cleans it (finite numbers only), as JSON
 * text; undefined when none is left, FAILED when the scan cannot be sure.
 */
function versionsObject(): string | undefined | typeof FAILED {
  const start = p;
  // The object as written is already the answer when it is compact and every value a kept,
  // canonical integer (what the target sends): then it is one slice, nothing rebuilt.
  let verbatim = true;
  p++;
  const afterBrace = p;
  ws();
  if (p !== afterBrace) verbatim = false;
  if (s.charCodeAt(p) === 125) {
    p++;
    return undefined;
  }
  spans.length = 0;
  let kept = 0;
  for (;;) {
    const ks = p;
    if (s.charCodeAt(p) !== 34 || !str()) return FAILED;
    const ke = p;
    // Decoded text, index order and __proto__'s setter: cases where JSON.parse + Object.entries
    // would not give back the key text in source order.
    if (special || digitsOnly(ks + 1, ke - 1) || keyIs(ks + 1, ke - 1, '__proto__')) return FAILED;
    for (let i = 0; i < spans.length; i += MEMBER)
      if (sameKey(ks, ke, spans[i] as number, spans[i + 1] as number)) return FAILED;
    if (s.charCodeAt(p) !== 58) verbatim = false;
    ws();
    if (s.charCodeAt(p) !== 58) return FAILED;
    p++;
    if (s.charCodeAt(p) === 32 || s.charCodeAt(p) === 10 || s.charCodeAt(p) === 13 || s.charCodeAt(p) === 9)
      verbatim = false;
    ws();
    const vs = p;
    const c = s.charCodeAt(p);
    let kind = DROPPED;
    if (c === 45 || isDigit(c)) {
      if (!num()) return FAILED;
      if (canonicalInteger(vs, p)) kind = CANONICAL;
      // parseResponse keeps finite numbers only (a JSON number can overflow to Infinity).
      else if (Number.isFinite(Number(s.slice(vs, p)))) kind = RENDER;
    } else if (!skipValue(1)) return FAILED;
    if (kind !== CANONICAL) verbatim = false;
    if (kind !== DROPPED) kept++;
    spans.push(ks, ke, vs, p, kind);
    const beforeWs = p;
    ws();
    if (p !== beforeWs) verbatim = false;
    const n = s.charCodeAt(p);
    p++;
    if (n === 125) break;
    if (n !== 44) return FAILED;
    const afterComma = p;
    ws();
    if (p !== afterComma) verbatim = false;
  }
  if (kept === 0) return undefined;
  if (verbatim) return s.slice(start, p);
  let out = '';
  for (let i = 0; i < spans.length; i += MEMBER) {
    const kind = spans[i + 4] as number;
    if (kind === DROPPED) continue;
    const value = s.slice(spans[i + 2] as number, spans[i + 3] as number);
    out += `${out === '' ? '{' : ','}${s.slice(spans[i] as number, spans[i + 1] as number)}:${kind === CANONICAL ? value : String(Number(value))}`;
  }
  return `${out}}`;
}

/** See the file comment: parseResponse's answer for a 2xx body, or undefined to parse it instead. */
export function scanResponse(op: Operation, status: number, text: string): ScannedResponse | undefined {
  if (status < 200 || status >= 300) return undefined;
  s = text;
  p = 0;
  try {
    ws();
    if (s.charCodeAt(p) !== 123) return undefined;
    p++;
    ws();
    let versions: string | undefined;
    let value: number | undefined;
    let sawVersions = false;
    let sawValue = false;
    if (s.charCodeAt(p) === 125) p++;
    else
      for (;;) {
        const ks = p;
        if (s.charCodeAt(p) !== 34 || !str() || special) return undefined;
        const ke = p;
        ws();
        if (s.charCodeAt(p) !== 58) return undefined;
        p++;
        ws();
        if (keyIs(ks + 1, ke - 1, 'versions')) {
          if (sawVersions) return undefined;
          sawVersions = true;
          if (s.charCodeAt(p) === 123) {
            const v = versionsObject();
            if (v === FAILED) return undefined;
            versions = v;
          } else if (!skipValue(1)) return undefined;
        } else if (keyIs(ks + 1, ke - 1, 'value')) {
          if (sawValue) return undefined;
          sawValue = true;
          const vs = p;
          const c = s.charCodeAt(p);
          if (!skipValue(1)) return undefined;
          if (c === 45 || isDigit(c)) {
            value = Number(s.slice(vs, p));
            if (!Number.isFinite(value)) return undefined;
          }
        } else if (keyIs(ks + 1, ke - 1, '__proto__')) return undefined;
        else if (!skipValue(1)) return undefined;
        ws();
        const n = s.charCodeAt(p);
        p++;
        if (n === 125) break;
        if (n !== 44) return undefined;
        ws();
      }
    ws();
    if (p !== s.length) return undefined;
    return { versions, value: op === 'read-counter' ? value : undefined };
  } finally {
    // Do not keep the last body alive until the next response.
    s = '';
  }
}
