/**
 * The flow-list filter: the language lives in src/filter/ (the server's rules read it too);
 * the page compiles it once per keystroke into a predicate that runs per row.
 */
export { compileFilter, pathOf, statusMatcher, type CompiledFilter, type Matcher } from '../../src/filter/match.js';
export { tlsNumber, tokenize } from '../../src/filter/parse.js';
