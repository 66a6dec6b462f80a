/**
 * The filter language, parsed to a small AST that both the dashboard (a predicate per row) and
 * the server (rules, and a store that may translate it to a query) read.
 *
 *   free text              url, method or content type contains it, or equals the status
 *   host:example.com       host contains
 *   status:404 / 4xx / >=400 / <300 / 200-299
 *   method:POST            exact (case-insensitive)
 *   type:json              response content type contains
 *   tls:1.2 / tls:none     negotiated TLS version
 *   url:/api  path:/api    url / path contains
 *   -term                  negates any term;  a,b  any of the values;  "quoted values"
 *
 * Every term must match (AND); the values of one term are alternatives (OR).
 * Pure and free of Node and DOM APIs: ui/ bundles it as it is.
 */

export type FilterKey = 'host' | 'status' | 'method' | 'type' | 'tls' | 'url' | 'path';

const KEYS: ReadonlySet<string> = new Set<FilterKey>(['host', 'status', 'method', 'type', 'tls', 'url', 'path']);

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
  | { kind: 'tls'; version: string | null };

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

/** One `key:value` alternative (no commas) → its AST value, or an error message. */
function parseValue(key: FilterKey, value: string): FilterValue | string {
  switch (key) {
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
  for (const part of value.split(',')) {
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
