/**
 * Body and header terms of the filter language, decided on a whole flow: its headers and its
 * bodies as text (decoded as the user sees them). Pure; the server feeds it from the session.
 */
import type { FilterTerm, FilterValue, TextMatch } from './parse.js';

export type HeaderPair = readonly [name: string, value: string];

export interface DeepSubject {
  requestHeaders: readonly HeaderPair[];
  /** null when no response arrived. */
  responseHeaders: readonly HeaderPair[] | null;
  /** Read only when a term needs it, so bodies are loaded lazily. */
  requestBody(): string;
  responseBody(): string | null;
}

/** Which bodies a set of deep terms reads: a search skips loading the others. */
export function bodiesRead(terms: readonly FilterTerm[]): { request: boolean; response: boolean } {
  const keys = new Set(terms.map((t) => t.key));
  return { request: keys.has('body') || keys.has('req.body'), response: keys.has('body') || keys.has('res.body') };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function textRegex(m: TextMatch): RegExp {
  return m.kind === 'contains' ? new RegExp(escape(m.text), 'i') : new RegExp(m.source, m.flags);
}

type DeepTest = (s: DeepSubject) => boolean;

function valueTest(key: FilterTerm['key'], value: FilterValue): DeepTest {
  if (value.kind === 'header') {
    const name = value.name.toLowerCase();
    const re = value.value ? textRegex(value.value) : null;
    const has = (headers: readonly HeaderPair[] | null): boolean =>
      headers !== null && headers.some(([n, v]) => n.toLowerCase() === name && (re === null || re.test(v)));
    return (s) => has(s.requestHeaders) || has(s.responseHeaders);
  }
  if (value.kind !== 'contains' && value.kind !== 'regex') return () => false;
  const re = textRegex(value);
  const request = key === 'body' || key === 'req.body';
  const response = key === 'body' || key === 'res.body';
  return (s) => (request && re.test(s.requestBody())) || (response && re.test(s.responseBody() ?? ''));
}

/** All terms must hold (AND), any value of a term (OR); negation as in the summary filter. */
export function compileDeep(terms: readonly FilterTerm[]): DeepTest {
  const tests = terms.map((term) => {
    const values = term.values.map((v) => valueTest(term.key, v));
    const any: DeepTest = (s) => values.some((t) => t(s));
    return term.negated ? (s: DeepSubject) => !any(s) : any;
  });
  return (s) => tests.every((t) => t(s));
}
