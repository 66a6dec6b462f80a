/**
 * The flow-list filter: the language lives in src/filter/ (the server's rules read it too);
 * the page compiles it once per keystroke into a predicate that runs per row. Body and header
 * terms are decided by the server (search.ts): a row must also be among the flows it found.
 */
import { compileFilter as compileShared, type CompiledFilter } from '../../src/filter/match.js';
import { clearDeepSearch, deepMatches } from './search.js';

export { pathOf, statusMatcher, type CompiledFilter, type Matcher } from '../../src/filter/match.js';
export { tlsNumber, tokenize } from '../../src/filter/parse.js';

export function compileFilter(text: string): CompiledFilter {
  const base = compileShared(text);
  if (base.deep.length === 0 || base.errors.length > 0) {
    clearDeepSearch();
    return base;
  }
  const ids = deepMatches(text);
  return { ...base, test: (s) => 'id' in s && typeof s.id === 'string' && ids.has(s.id) && base.test(s) };
}
