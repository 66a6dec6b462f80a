/**
 * The filter language, parsed to a small AST that both the dashboard (a predicate per row) and
 * the server (rules, and a store that may translate it to a query) read.
 *
 *   free text              url, method or content type contains it, or equals the status
 *   host:example.com       host contains
 *   status:404 / 4xx / >=400 / <300 / 200-299
 *   method:POST            exact (case-insensitive)
 *   type:json              response content type contains
 *   tls:1.2 / tls:none     negotiated TLS version (the server leg's for https: none if the server
 *                          refused the handshake before choosing one)
 *   url:/api  path:/api    url / path contains
 *   body:TEXT              request or response body (decoded as shown) contains; req.body:, res.body: one side
 *   header:NAME=VALUE      a request or response header NAME contains VALUE; header:NAME: it is present
 *   body:/re/i  header:N=/re/   a JavaScript regular expression instead of text (flags i, m, s, u)
 *   -term                  negates any term;  a,b  any of the values;  "quoted values"
 *
 * Every term must match (AND); the values of one term are alternatives (OR). Body and header
 * terms ("deep" terms) read more than a summary: the server runs them over the session.
 * Pure and free of Node and DOM APIs: ui/ bundles it as it is.
 */

export type FilterKey = 'host' | 'status' | 'method' | 'type' | 'tls' | 'url' | 'path' | DeepKey;
/** Keys that read bodies or headers, which summaries do not carry. */
export type DeepKey = 'body' | 'req.body' | 'res.body' | 'header';

const DEEP_KEYS: ReadonlySet<string> = new Set<DeepKey>(['body', 'req.body', 'res.body', 'header']);
const KEYS: ReadonlySet<string> = new Set<FilterKey>(['host', 'status', 'method', 'type', 'tls', 'url', 'path', ...(DEEP_KEYS as ReadonlySet<DeepKey>)]);
/** Regular-expression flags a search may use; `g` and `y` would make `test` stateful. */
const REGEX_FORM = /^\/(.+)\/([imsu]*)$/s;

/** Text to find: a case-insensitive substring, or a regular expression. */
export type TextMatch = { kind: 'contains'; text: string } | { kind: 'regex'; source: string; flags: string };

export function isDeepKey(key: FilterKey | null): key is DeepKey {
  return key !== null && DEEP_KEYS.has(key);
}

/** Highest status a `status:>=N` range reaches: three digits. */
export const MAX_STATUS = 999;

/** One alternative of a term; `text` values are compared case-insensitively. */
export type FilterValue =
  /** The field contains `text` (host, url, path, type; free text on url and content type). */
  | { kind: 'contains'; text: string }
  /** The field equals `text` (method). */
  | { kind: 'equals'; text: string }
  /** `min <= status <= max`; every status form (404, 4xx, >=400, 200-299) is a range. */
  | { kind: 'status'; min: number; max: number }
  /** TLS version in `tlsNumber` spelling (`1.2`), or null for "no TLS". */
  | { kind: 'tls'; version: string | null }
  /** A body matches this regular expression (`body:/re/`). */
  | { kind: 'regex'; source: string; flags: string }
  /** A header named `name` (any case) is present, or its value matches `value`. */
  | { kind: 'header'; name: string; value: TextMatch | null };

export interface FilterTerm {
  /** null for free text. */
  key: FilterKey | null;
  /** The value as typed (after `key:`). */
  value: string;
  negated: boolean;
  /** Alternatives: the term matches when any does. */
  values: FilterValue[];
}

export interface ParsedFilter {
  /** The text as typed, for cache checks. */
  source: string;
  terms: FilterTerm[];
  /** Terms that could not be understood, in words; they are left out of `terms`. */
  errors: string[];
}

export interface Token {
  text: string;
  negated: boolean;
}

/** Splits on whitespace; `"..."` keeps spaces (also after `key:`), a leading `-` negates. */
export function tokenize(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    while (i < input.length && /\s/.test(input[i]!)) i++;
    if (i >= input.length) break;
    let negated = false;
    if (input[i] === '-' && i + 1 < input.length && !/\s/.test(input[i + 1]!)) {
      negated = true;
      i++;
    }
    let text = '';
    while (i < input.length && !/\s/.test(input[i]!)) {
      if (input[i] === '"') {
        const close = input.indexOf('"', i + 1);
        const end = close < 0 ? input.length : close;
        text += input.slice(i + 1, end);
        i = close < 0 ? input.length : close + 1;
      } else {
        text += input[i];
        i++;
      }
    }
    if (text !== '') out.push({ text, negated });
  }
  return out;
}

/** `TLSv1.2` → `1.2`; the filter accepts either spelling. */
export function tlsNumber(version: string): string {
  return version.toLowerCase().replace(/^tlsv?/, '').replace(/^sslv?/, 'ssl');
}

const STATUS_COMPARE = /^(>=|<=|>|<|=)?(\d{1,3})$/;
const STATUS_CLASS = /^([1-5])xx$/i;
const STATUS_RANGE = /^(\d{1,3})-(\d{1,3})$/;

/** One status value → an inclusive range, or an error message. */
export function statusRange(value: string): { min: number; max: number } | string {
  const cls = STATUS_CLASS.exec(value);
  if (cls) {
    const hundred = Number(cls[1]) * 100;
    return { min: hundred, max: hundred + 99 };
  }
  const range = STATUS_RANGE.exec(value);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  const cmp = STATUS_COMPARE.exec(value);
  if (!cmp) return `status:${value} is not a status (try 404, 4xx, >=400 or 200-299)`;
  const n = Number(cmp[2]);
  switch (cmp[1]) {
    case '>=':
      return { min: n, max: MAX_STATUS };
    case '<=':
      return { min: 0, max: n };
    case '>':
      return { min: n + 1, max: MAX_STATUS };
    case '<':
      return { min: 0, max: n - 1 };
    default:
      return { min: n, max: n };
  }
}

/** `/re/flags` → a checked regex match; other text → a substring match. */
export function textMatch(value: string): TextMatch | string {
  const re = REGEX_FORM.exec(value);
  if (!re) return { kind: 'contains', text: value };
  try {
    new RegExp(re[1]!, re[2]);
  } catch (err) {
    return `${value} is not a valid regular expression (${err instanceof Error ? err.message : String(err)})`;
  }
  return { kind: 'regex', source: re[1]!, flags: re[2]! };
}

/** One `key:value` alternative (no commas) → its AST value, or an error message. */
function parseValue(key: FilterKey, value: string): FilterValue | string {
  switch (key) {
    case 'body':
    case 'req.body':
    case 'res.body': {
      const m = textMatch(value);
      return typeof m === 'string' ? `${key}:${m}` : m;
    }
    case 'header': {
      const eq = value.indexOf('=');
      const name = eq < 0 ? value : value.slice(0, eq);
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return `header:${value} needs a header name (header:NAME or header:NAME=VALUE)`;
      if (eq < 0) return { kind: 'header', name, value: null };
      const m = textMatch(value.slice(eq + 1));
      return typeof m === 'string' ? `header:${m}` : { kind: 'header', name, value: m };
    }
    case 'host':
    case 'url':
    case 'path':
    case 'type':
      return { kind: 'contains', text: value };
    case 'method':
      return { kind: 'equals', text: value.toUpperCase() };
    case 'tls': {
      const want = tlsNumber(value);
      return { kind: 'tls', version: want === 'none' || want === 'no' || want === 'off' ? null : want };
    }
    case 'status': {
      const range = statusRange(value);
      return typeof range === 'string' ? range : { kind: 'status', ...range };
    }
  }
}

function parseToken(token: Token): FilterTerm | string {
  const colon = token.text.indexOf(':');
  const maybeKey = colon > 0 ? token.text.slice(0, colon).toLowerCase() : '';
  // `http://x` or `a:b` with an unknown key is free text: users paste URLs.
  if (!KEYS.has(maybeKey)) return { key: null, value: token.text, negated: token.negated, values: [{ kind: 'contains', text: token.text }] };
  const key = maybeKey as FilterKey;
  const value = token.text.slice(colon + 1);
  const values: FilterValue[] = [];
  // A regular expression may hold commas (`a{1,3}`): it is one value.
  const parts = isDeepKey(key) && REGEX_FORM.test(value.slice(value.indexOf('=') + 1)) ? [value] : value.split(',');
  for (const part of parts) {
    if (part === '') continue;
    const v = parseValue(key, part);
    if (typeof v === 'string') return v;
    values.push(v);
  }
  if (values.length === 0) return `${key}: needs a value`;
  return { key, value, negated: token.negated, values };
}

export function parseFilter(source: string): ParsedFilter {
  const terms: FilterTerm[] = [];
  const errors: string[] = [];
  for (const token of tokenize(source)) {
    const term = parseToken(token);
    if (typeof term === 'string') errors.push(term);
    else terms.push(term);
  }
  return { source, terms, errors };
}
