import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFilter } from '../../src/filter/match.js';
import { bodiesRead, compileDeep, type DeepSubject } from '../../src/filter/deep.js';
import { parseFilter } from '../../src/filter/parse.js';
import { filterSql } from '../../src/capture/session/filter-sql.js';

function subject(over: Partial<{ reqH: [string, string][]; resH: [string, string][] | null; req: string; res: string | null }> = {}): DeepSubject {
  return {
    requestHeaders: over.reqH ?? [['Host', 'a.example'], ['X-Trace', 'abc-123']],
    responseHeaders: over.resH === undefined ? [['Content-Type', 'application/json']] : over.resH,
    requestBody: () => over.req ?? '{"user":"alice"}',
    responseBody: () => (over.res === undefined ? '{"token":"Secret-42","n":[1,2]}' : over.res),
  };
}

function deep(text: string): (s: DeepSubject) => boolean {
  const parsed = parseFilter(text);
  assert.deepEqual(parsed.errors, [], text);
  return compileDeep(compileFilter(parsed).deep);
}

describe('body and header terms', () => {
  it('parse into deep terms that summaries and SQL leave out', () => {
    const c = compileFilter('host:a.example body:alice');
    assert.deepEqual(c.terms.map((t) => t.key), ['host']);
    assert.deepEqual(c.deep.map((t) => t.key), ['body']);
    assert.equal(c.empty, false);
    assert.equal(compileFilter('body:x').empty, false);
    assert.equal(filterSql(parseFilter('body:x')), null);
    assert.match(filterSql(parseFilter('host:a body:x'))!.sql, /host LIKE/);
  });

  it('body: searches either side, req.body: and res.body: one side, case-insensitively', () => {
    assert.equal(deep('body:ALICE')(subject()), true);
    assert.equal(deep('body:secret-42')(subject()), true);
    assert.equal(deep('req.body:secret')(subject()), false);
    assert.equal(deep('res.body:secret')(subject()), true);
    assert.equal(deep('res.body:alice')(subject()), false);
    assert.equal(deep('res.body:x')(subject({ res: null })), false, 'no response: no match');
  });

  it('/regex/ forms, with flags and commas inside, and invalid ones are errors', () => {
    assert.equal(deep('body:/secret-\\d{1,3}/i')(subject()), true);
    assert.equal(deep('body:/secret-\\d{1,3}/')(subject()), false, 'case-sensitive without i');
    assert.equal(deep('header:x-trace=/^abc-\\d+$/')(subject()), true);
    assert.match(parseFilter('body:/(/').errors[0]!, /not a valid regular expression/);
    // `g` would make RegExp#test stateful: `/a/g` is plain text.
    assert.deepEqual(parseFilter('body:/a/g').terms[0]!.values, [{ kind: 'contains', text: '/a/g' }]);
  });

  it('header:NAME=VALUE matches request or response headers by name in any case; header:NAME is presence', () => {
    assert.equal(deep('header:content-type=json')(subject()), true);
    assert.equal(deep('header:X-TRACE=abc')(subject()), true);
    assert.equal(deep('header:x-trace=zzz')(subject()), false);
    assert.equal(deep('header:x-trace')(subject()), true);
    assert.equal(deep('header:authorization')(subject()), false);
    assert.match(parseFilter('header:=x').errors[0]!, /needs a header name/);
  });

  it('negation and alternatives combine as for other terms', () => {
    assert.equal(deep('-body:alice')(subject()), false);
    assert.equal(deep('-body:bob')(subject()), true);
    assert.equal(deep('body:bob,alice')(subject()), true);
    assert.equal(deep('body:alice -header:x-trace')(subject()), false);
  });

  it('bodies are read only for the sides a term needs', () => {
    assert.deepEqual(bodiesRead(compileFilter('header:a res.body:x').deep), { request: false, response: true });
    assert.deepEqual(bodiesRead(compileFilter('header:a').deep), { request: false, response: false });
    assert.deepEqual(bodiesRead(compileFilter('body:a').deep), { request: true, response: true });
  });
});
