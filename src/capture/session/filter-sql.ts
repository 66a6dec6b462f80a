/**
 * The filter language (src/filter) as SQL over the flows table, so a filter over a million flows
 * is one scan inside SQLite instead of a million rows brought into JavaScript. Each value becomes
 * a condition that is never NULL (a missing response is "no match", as in the predicate), so
 * negation means exactly "not this". SQLite's LIKE folds ASCII case only, so a needle with other
 * letters goes through `icontains`, the predicate's own case-insensitive test.
 */
import { isDeepKey, tlsNumber, type FilterTerm, type FilterValue, type ParsedFilter } from '../../filter/parse.js';
import { pathOf } from '../../filter/match.js';

export interface SqlWhere {
  sql: string;
  params: (string | number)[];
}

/** Compiled needles of `icontains`: a filter runs one needle over many rows. */
const needles = new Map<string, RegExp>();
const MAX_NEEDLES = 64;

function icontains(haystack: unknown, needle: unknown): number {
  if (typeof haystack !== 'string' || typeof needle !== 'string') return 0;
  let re = needles.get(needle);
  if (!re) {
    if (needles.size >= MAX_NEEDLES) needles.clear();
    re = new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    needles.set(needle, re);
  }
  return re.test(haystack) ? 1 : 0;
}

/** SQL functions the conditions use; registered on every connection that runs them. */
export const SQL_FUNCTIONS = {
  flow_path: (url: unknown): string => (typeof url === 'string' ? pathOf(url) : ''),
  tls_number: (version: unknown): string | null => (typeof version === 'string' ? tlsNumber(version) : null),
  icontains,
};

function like(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function contains(column: string, text: string, params: SqlWhere['params']): string {
  if (/[^\x00-\x7f]/.test(text)) {
    params.push(text);
    return `IFNULL(icontains(${column}, ?), 0)`;
  }
  params.push(like(text));
  return `IFNULL(${column} LIKE ? ESCAPE '\\', 0)`;
}

function valueSql(term: FilterTerm, value: FilterValue, params: SqlWhere['params']): string {
  switch (value.kind) {
    case 'contains':
      switch (term.key) {
        case 'host':
          return contains('host', value.text, params);
        case 'path':
          return contains('flow_path(url)', value.text, params);
        case 'type':
          return contains('content_type', value.text, params);
        case 'url':
          return contains('url', value.text, params);
        default: {
          const parts = [contains('url', value.text, params), contains('content_type', value.text, params)];
          params.push(value.text.toUpperCase());
          parts.push('method = ?');
          if (/^\d{3}$/.test(value.text)) {
            params.push(Number(value.text));
            parts.push('IFNULL(status = ?, 0)');
          }
          return `(${parts.join(' OR ')})`;
        }
      }
    case 'equals':
      params.push(value.text);
      return 'upper(method) = ?';
    case 'tls':
      if (value.version === null) return 'tls_version IS NULL';
      params.push(value.version);
      return 'IFNULL(tls_number(tls_version) = ?, 0)';
    case 'status':
      params.push(value.min, value.max);
      return 'IFNULL(status BETWEEN ? AND ?, 0)';
    case 'regex':
    case 'header':
      // Deep terms are not SQL (filterSql leaves them out); never reached.
      return '1';
  }
}

/**
 * The WHERE condition for a parsed filter (terms AND-ed, each term's values OR-ed); null when
 * empty. Body and header terms are left out: it selects the candidates src/capture/search.ts reads.
 */
export function filterSql(parsed: ParsedFilter): SqlWhere | null {
  const shallow = parsed.terms.filter((t) => !isDeepKey(t.key));
  if (shallow.length === 0) return null;
  const params: SqlWhere['params'] = [];
  const terms = shallow.map((term) => {
    const any = `(${term.values.map((v) => valueSql(term, v, params)).join(' OR ')})`;
    return term.negated ? `NOT ${any}` : any;
  });
  return { sql: terms.join(' AND '), params };
}
