/**
 * The flow-list filter language, parsed once per keystroke into a predicate that runs per row.
 *
 *   free text              url, method or content type contains it (case-insensitive)
 *   host:example.com       host contains
 *   status:404 / 4xx / >=400 / <300 / 200-299
 *   method:POST            exact (case-insensitive)
 *   type:json              content type contains
 *   tls:1.2 / tls:none     negotiated TLS version
 *   url:/api  path:/api    url / path contains
 *   -term                  negates any term;  a,b  any of the values;  "quoted values"
 *
 * Pure: no DOM, so node:test covers it (test/ui/filter.test.ts).
 */
import type { FlowSummary } from './types.js';

export type FilterKey = 'host' | 'status' | 'method' | 'type' | 'tls' | 'url' | 'path';

const KEYS: ReadonlySet<string> = new Set<FilterKey>(['host', 'status', 'method', 'type', 'tls', 'url', 'path']);

export type Matcher = (flow: FlowSummary) => boolean;

export interface Term {
  /** null for free text. */
  key: FilterKey | null;
  value: string;
  negated: boolean;
  test: Matcher;
}

export interface CompiledFilter {
  /** The text as typed, for cache checks. */
  source: string;
  terms: Term[];
  /** Terms that could not be understood, in words; they are left out of the predicate. */
  errors: string[];
  /** True when there is nothing to filter by: every flow matches. */
  empty: boolean;
  test: Matcher;
}

interface Token {
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

/** Everything after `scheme://host[:port]`; the whole url when it has no scheme (CONNECT `host:443`). */
export function pathOf(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url.startsWith('/') ? url : '';
  const slash = url.indexOf('/', scheme + 3);
  return slash < 0 ? '/' : url.slice(slash);
}

/** `TLSv1.2` → `1.2`; the filter accepts either spelling. */
export function tlsNumber(version: string): string {
  return version.toLowerCase().replace(/^tlsv?/, '').replace(/^sslv?/, 'ssl');
}

const STATUS_COMPARE = /^(>=|<=|>|<|=)?(\d{1,3})$/;
const STATUS_CLASS = /^([1-5])xx$/i;
const STATUS_RANGE = /^(\d{1,3})-(\d{1,3})$/;

/** One status value → a predicate on the status code, or an error message. */
export function statusMatcher(value: string): ((status: number) => boolean) | string {
  const cls = STATUS_CLASS.exec(value);
  if (cls) {
    const hundred = Number(cls[1]) * 100;
    return (s) => s >= hundred && s < hundred + 100;
  }
  const range = STATUS_RANGE.exec(value);
  if (range) {
    const lo = Number(range[1]);
    const hi = Number(range[2]);
    return (s) => s >= lo && s <= hi;
  }
  const cmp = STATUS_COMPARE.exec(value);
  if (!cmp) return `status:${value} is not a status (try 404, 4xx, >=400 or 200-299)`;
  const n = Number(cmp[2]);
  switch (cmp[1]) {
    case '>=':
      return (s) => s >= n;
    case '<=':
      return (s) => s <= n;
    case '>':
      return (s) => s > n;
    case '<':
      return (s) => s < n;
    default:
      return (s) => s === n;
  }
}

/**
 * A case-insensitive substring test. A regex, not `toLowerCase().includes()`: it allocates
 * nothing per row, which is what keeps a 100,000-row rescan within a frame or two.
 */
function insensitive(needle: string): RegExp {
  return new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}

function contains(field: (f: FlowSummary) => string | null, needle: string): Matcher {
  const re = insensitive(needle);
  return (f) => {
    const v = field(f);
    return v !== null && re.test(v);
  };
}

/** The predicate for one `key:value` (value without commas); a string is an error. */
function keyMatcher(key: FilterKey, value: string): Matcher | string {
  switch (key) {
    case 'host':
      return contains((f) => f.host, value);
    case 'url':
      return contains((f) => f.url, value);
    case 'path':
      return contains((f) => pathOf(f.url), value);
    case 'type':
      return contains((f) => f.contentType, value);
    case 'method': {
      const upper = value.toUpperCase();
      return (f) => f.method.toUpperCase() === upper;
    }
    case 'tls': {
      const want = tlsNumber(value);
      if (want === 'none' || want === 'no' || want === 'off') return (f) => f.tlsVersion === null;
      return (f) => f.tlsVersion !== null && tlsNumber(f.tlsVersion) === want;
    }
    case 'status': {
      const m = statusMatcher(value);
      if (typeof m === 'string') return m;
      // A pending flow has no status yet: it matches no status term.
      return (f) => f.status !== null && m(f.status);
    }
  }
}

function freeText(value: string): Matcher {
  const re = insensitive(value);
  const upper = value.toUpperCase();
  const status = /^\d{3}$/.test(value) ? Number(value) : -1;
  return (f) => re.test(f.url) || f.method === upper || (f.contentType !== null && re.test(f.contentType)) || f.status === status;
}

function anyOf(matchers: Matcher[]): Matcher {
  if (matchers.length === 1) return matchers[0]!;
  return (f) => matchers.some((m) => m(f));
}

function compileToken(token: Token): Term | string {
  const colon = token.text.indexOf(':');
  const maybeKey = colon > 0 ? token.text.slice(0, colon).toLowerCase() : '';
  // `http://x` or `a:b` with an unknown key is free text: users paste URLs.
  if (!KEYS.has(maybeKey)) {
    const test = freeText(token.text);
    return { key: null, value: token.text, negated: token.negated, test: token.negated ? (f) => !test(f) : test };
  }
  const key = maybeKey as FilterKey;
  const value = token.text.slice(colon + 1);
  if (value === '') return `${key}: needs a value`;
  const matchers: Matcher[] = [];
  for (const part of value.split(',')) {
    if (part === '') continue;
    const m = keyMatcher(key, part);
    if (typeof m === 'string') return m;
    matchers.push(m);
  }
  if (matchers.length === 0) return `${key}: needs a value`;
  const test = anyOf(matchers);
  return { key, value, negated: token.negated, test: token.negated ? (f) => !test(f) : test };
}

/** Every term must match (AND); values within a term are alternatives (OR). */
export function compileFilter(source: string): CompiledFilter {
  const terms: Term[] = [];
  const errors: string[] = [];
  for (const token of tokenize(source)) {
    const term = compileToken(token);
    if (typeof term === 'string') errors.push(term);
    else terms.push(term);
  }
  const tests = terms.map((t) => t.test);
  const test: Matcher = tests.length === 0 ? () => true : tests.length === 1 ? tests[0]! : (f) => tests.every((t) => t(f));
  return { source, terms, errors, empty: terms.length === 0, test };
}
