/**
 * The flow-list filter: the language lives in src/filter/ (the server's rules read it too);
 * the page compiles it once per keystroke into a predicate that runs per row.
 */
export { compileFilter, type CompiledFilter } from '../../src/filter/match.js';
export { tlsNumber } from '../../src/filter/parse.js';
