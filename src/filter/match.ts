/**
 * Filter AST → predicate over the few fields of a flow it reads. Compiled once per filter and
 * run per flow, so the per-row work allocates nothing.
 */
import { isDeepKey, parseFilter, statusRange, tlsNumber, type FilterTerm, type FilterValue, type ParsedFilter } from './parse.js';

/** What a filter reads of a flow; the dashboard's FlowSummary and the server's summary both fit. */
export interface FilterSubject {
  method: string;
  url: string;
  host: string;
  /** null until a response arrived. */
  status: number | null;
  /** Response content type; null until a response arrived. */
  contentType: string | null;
  tlsVersion: string | null;
}

export type Matcher = (subject: FilterSubject) => boolean;

export interface CompileOptions {
  /**
   * How `status:` and `type:` terms treat a subject without a response. `no-match` (the list):
   * a pending flow matches no status term. `maybe`: such terms match either way, for deciding
   * before the response whether it may be needed (rules that act on responses).
   */
  responseUnknown?: 'no-match' | 'maybe';
}

export interface CompiledTerm extends FilterTerm {
  test: Matcher;
}

export interface CompiledFilter {
  source: string;
  terms: CompiledTerm[];
  errors: string[];
  /** True when there is nothing to filter by: every flow matches. */
  empty: boolean;
  /**
   * Body and header terms: `test` leaves them out (a summary has neither), so with deep terms
   * `test` is necessary, not sufficient; src/filter/deep.ts decides them on whole flows.
   */
  deep: FilterTerm[];
  test: Matcher;
}

/** Everything after `scheme://host[:port]`; the whole url when it has no scheme (CONNECT `host:443`). */
export function pathOf(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url.startsWith('/') ? url : '';
  const slash = url.indexOf('/', scheme + 3);
  return slash < 0 ? '/' : url.slice(slash);
}

/** One status value → a predicate on the status code, or an error message. */
export function statusMatcher(value: string): ((status: number) => boolean) | string {
  const range = statusRange(value);
  if (typeof range === 'string') return range;
  return (s) => s >= range.min && s <= range.max;
}

/**
 * A case-insensitive substring test. A regex, not `toLowerCase().includes()`: it allocates
 * nothing per row, which is what keeps a 100,000-row rescan within a frame or two.
 */
function insensitive(needle: string): RegExp {
  return new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}

function contains(field: (f: FilterSubject) => string | null, needle: string): Matcher {
  const re = insensitive(needle);
  return (f) => {
    const v = field(f);
    return v !== null && re.test(v);
  };
}

function freeText(value: string): Matcher {
  const re = insensitive(value);
  const upper = value.toUpperCase();
  const status = /^\d{3}$/.test(value) ? Number(value) : -1;
  return (f) => re.test(f.url) || f.method === upper || (f.contentType !== null && re.test(f.contentType)) || f.status === status;
}

function valueMatcher(term: FilterTerm, value: FilterValue): Matcher {
  switch (value.kind) {
    case 'contains':
      switch (term.key) {
        case 'host':
          return contains((f) => f.host, value.text);
        case 'path':
          return contains((f) => pathOf(f.url), value.text);
        case 'type':
          return contains((f) => f.contentType, value.text);
        case 'url':
          return contains((f) => f.url, value.text);
        default:
          return freeText(value.text);
      }
    case 'equals':
      return (f) => f.method.toUpperCase() === value.text;
    case 'tls': {
      const want = value.version;
      if (want === null) return (f) => f.tlsVersion === null;
      return (f) => f.tlsVersion !== null && tlsNumber(f.tlsVersion) === want;
    }
    case 'status':
      // A pending flow has no status yet: it matches no status term.
      return (f) => f.status !== null && f.status >= value.min && f.status <= value.max;
    case 'regex':
    case 'header':
      // Deep terms are left out of summary predicates (see compileFilter); never reached.
      return () => true;
  }
}

function termMatcher(term: FilterTerm, options: CompileOptions): Matcher {
  const matchers = term.values.map((v) => valueMatcher(term, v));
  const any: Matcher = matchers.length === 1 ? matchers[0]! : (f) => matchers.some((m) => m(f));
  const test: Matcher = term.negated ? (f) => !any(f) : any;
  if (options.responseUnknown === 'maybe' && (term.key === 'status' || term.key === 'type')) return (f) => f.status === null || test(f);
  return test;
}

/** Compiles filter text (or an already parsed filter) to a predicate. */
export function compileFilter(input: string | ParsedFilter, options: CompileOptions = {}): CompiledFilter {
  const parsed = typeof input === 'string' ? parseFilter(input) : input;
  const terms: CompiledTerm[] = parsed.terms.filter((t) => !isDeepKey(t.key)).map((t) => ({ ...t, test: termMatcher(t, options) }));
  const deep = parsed.terms.filter((t) => isDeepKey(t.key));
  const tests = terms.map((t) => t.test);
  const test: Matcher = tests.length === 0 ? () => true : tests.length === 1 ? tests[0]! : (f) => tests.every((t) => t(f));
  return { source: parsed.source, terms, errors: parsed.errors, empty: terms.length === 0 && deep.length === 0, deep, test };
}

/** True when any term reads the response (`status:` or `type:`). */
export function readsResponse(parsed: ParsedFilter): boolean {
  return parsed.terms.some((t) => t.key === 'status' || t.key === 'type');
}
