import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFilter, pathOf, readsResponse, statusMatcher } from '../../src/filter/match.js';
import { MAX_STATUS, parseFilter, tlsNumber, tokenize } from '../../src/filter/parse.js';
import type { FlowSummary } from '../../ui/src/types.js';

function flow(over: Partial<FlowSummary>): FlowSummary {
  return {
    id: Math.random().toString(36).slice(2),
    kind: 'http',
    state: 'complete',
    method: 'GET',
    url: 'https://api.example.com/v1/users?page=2',
    scheme: 'https',
    host: 'api.example.com',
    status: 200,
    contentType: 'application/json; charset=utf-8',
    requestSize: 0,
    responseSize: 141,
    startedAt: 0,
    duration: 12,
    tlsVersion: 'TLSv1.2',
    tlsLeg: 'server',
    error: null,
    imported: false,
    paused: null,
    replayOf: null,
    ...over,
  };
}

const FLOWS: FlowSummary[] = [
  flow({ id: 'users' }),
  flow({ id: 'login', method: 'POST', url: 'https://api.example.com/v1/login', status: 201 }),
  flow({ id: 'logo', url: 'https://cdn.example.com/logo.png', host: 'cdn.example.com', contentType: 'image/png', tlsVersion: 'TLSv1.3' }),
  flow({ id: 'missing', url: 'https://api.example.com/v1/users/9', status: 404, contentType: 'application/problem+json' }),
  flow({ id: 'boom', method: 'PUT', url: 'https://api.example.com/v1/orders/4', status: 500, contentType: 'text/plain' }),
  flow({ id: 'plain', url: 'http://intranet.example.com/health', scheme: 'http', host: 'intranet.example.com', contentType: 'text/plain', tlsVersion: null }),
  flow({ id: 'pending', state: 'pending', url: 'https://slow.example.com/poll', host: 'slow.example.com', status: null, contentType: null, duration: null }),
  flow({ id: 'tunnel', kind: 'tunnel', method: 'CONNECT', url: 'pinned.example.org:443', host: 'pinned.example.org', status: null, contentType: null, tlsVersion: null }),
];

function ids(text: string): string[] {
  const f = compileFilter(text);
  return FLOWS.filter(f.test).map((x) => x.id);
}

describe('filter', () => {
  it('matches everything when empty or blank', () => {
    assert.equal(compileFilter('').empty, true);
    assert.equal(compileFilter('   ').empty, true);
    assert.equal(ids('').length, FLOWS.length);
  });

  it('matches free text against the url, case-insensitively', () => {
    assert.deepEqual(ids('USERS'), ['users', 'missing']);
    assert.deepEqual(ids('logo.png'), ['logo']);
  });

  it('matches free text against the method and content type too', () => {
    assert.deepEqual(ids('post'), ['login']);
    assert.deepEqual(ids('image/png'), ['logo']);
  });

  it('reads host: as host contains', () => {
    assert.deepEqual(ids('host:cdn'), ['logo']);
    assert.deepEqual(ids('host:api.example.com'), ['users', 'login', 'missing', 'boom']);
    assert.deepEqual(ids('HOST:CDN.EXAMPLE.COM'), ['logo']);
  });

  it('negates any term with a leading minus', () => {
    assert.deepEqual(ids('-host:example.com'), ['tunnel']);
    assert.deepEqual(ids('-host:api -host:cdn'), ['plain', 'pending', 'tunnel']);
    assert.deepEqual(ids('-users host:api'), ['login', 'boom']);
  });

  it('reads status comparisons, classes, exact codes and ranges', () => {
    assert.deepEqual(ids('status:>=400'), ['missing', 'boom']);
    assert.deepEqual(ids('status:>404'), ['boom']);
    assert.deepEqual(ids('status:<201'), ['users', 'logo', 'plain']);
    assert.deepEqual(ids('status:<=201'), ['users', 'login', 'logo', 'plain']);
    assert.deepEqual(ids('status:404'), ['missing']);
    assert.deepEqual(ids('status:=404'), ['missing']);
    assert.deepEqual(ids('status:4xx'), ['missing']);
    assert.deepEqual(ids('status:5XX'), ['boom']);
    assert.deepEqual(ids('status:200-299'), ['users', 'login', 'logo', 'plain']);
  });

  it('never matches a pending flow with a status term, and always with a negated one', () => {
    assert.ok(!ids('status:>=0').includes('pending'));
    assert.ok(ids('-status:200').includes('pending'));
  });

  it('matches method: exactly, ignoring case', () => {
    assert.deepEqual(ids('method:post'), ['login']);
    assert.deepEqual(ids('method:PO'), []);
  });

  it('reads type: as content type contains', () => {
    assert.deepEqual(ids('type:json'), ['users', 'login', 'missing']);
    assert.deepEqual(ids('type:image'), ['logo']);
  });

  it('compares tls: versions in either spelling, and tls:none', () => {
    assert.deepEqual(ids('tls:1.3'), ['logo']);
    assert.deepEqual(ids('tls:TLSv1.3'), ['logo']);
    assert.equal(ids('tls:1.2').length, 5);
    assert.deepEqual(ids('tls:none'), ['plain', 'tunnel']);
  });

  it('treats comma-separated values as alternatives', () => {
    assert.deepEqual(ids('method:PUT,POST'), ['login', 'boom']);
    assert.deepEqual(ids('status:404,500'), ['missing', 'boom']);
  });

  it('requires every term (AND)', () => {
    assert.deepEqual(ids('host:api type:json status:>=400'), ['missing']);
  });

  it('filters by path and url', () => {
    assert.deepEqual(ids('path:/v1/users'), ['users', 'missing']);
    assert.deepEqual(ids('url:http://'), ['plain']);
  });

  it('keeps quoted values together', () => {
    assert.deepEqual(tokenize('"a b" host:"x y" -c'), [
      { text: 'a b', negated: false },
      { text: 'host:x y', negated: false },
      { text: 'c', negated: true },
    ]);
  });

  it('reads an unknown key or a pasted URL as free text', () => {
    assert.deepEqual(ids('https://cdn.example.com/logo'), ['logo']);
    const f = compileFilter('foo:bar');
    assert.equal(f.terms[0]!.key, null);
    assert.deepEqual(f.errors, []);
  });

  it('reports malformed terms and leaves them out', () => {
    const f = compileFilter('status:abc host:api host:');
    assert.equal(f.errors.length, 2);
    assert.match(f.errors[0]!, /status:abc/);
    assert.match(f.errors[1]!, /host: needs a value/);
    assert.equal(f.terms.length, 1);
  });

  it('takes a lone minus as free text', () => {
    assert.deepEqual(tokenize('- a'), [
      { text: '-', negated: false },
      { text: 'a', negated: false },
    ]);
  });

  it('finds the path of absolute, origin-form and CONNECT targets', () => {
    assert.equal(pathOf('https://a.example:8443/x?y=1'), '/x?y=1');
    assert.equal(pathOf('https://a.example'), '/');
    assert.equal(pathOf('/only/path'), '/only/path');
    assert.equal(pathOf('host.example:443'), '');
  });

  it('normalises TLS version spellings', () => {
    assert.equal(tlsNumber('TLSv1.2'), '1.2');
    assert.equal(tlsNumber('tls1.3'), '1.3');
    assert.equal(tlsNumber('SSLv3'), 'ssl3');
  });

  it('builds status predicates', () => {
    const m = statusMatcher('>=400');
    assert.equal(typeof m, 'function');
    if (typeof m === 'function') {
      assert.equal(m(399), false);
      assert.equal(m(400), true);
    }
    assert.equal(typeof statusMatcher('4x'), 'string');
  });

  it('filters 100,000 flows in well under a frame budget', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => flow({ id: String(i), host: i % 3 === 0 ? 'cdn.example.com' : 'api.example.com', status: 200 + (i % 5) * 100 }));
    const f = compileFilter('host:api status:>=400 -type:html');
    const start = performance.now();
    const n = many.filter(f.test).length;
    const ms = performance.now() - start;
    assert.ok(n > 0);
    assert.ok(ms < 200, `took ${ms.toFixed(1)} ms`);
  });

  it('exports an AST a store can translate: keys, negation and status ranges', () => {
    const parsed = parseFilter('-host:cdn status:4xx,>=500 method:post "a b" status:zzz');
    assert.deepEqual(parsed.errors.length, 1);
    assert.deepEqual(parsed.terms, [
      { key: 'host', value: 'cdn', negated: true, values: [{ kind: 'contains', text: 'cdn' }] },
      { key: 'status', value: '4xx,>=500', negated: false, values: [{ kind: 'status', min: 400, max: 499 }, { kind: 'status', min: 500, max: MAX_STATUS }] },
      { key: 'method', value: 'post', negated: false, values: [{ kind: 'equals', text: 'POST' }] },
      { key: null, value: 'a b', negated: false, values: [{ kind: 'contains', text: 'a b' }] },
    ]);
    assert.deepEqual(parseFilter('tls:none').terms[0]!.values, [{ kind: 'tls', version: null }]);
  });

  it('compiles an already parsed filter the same as its text', () => {
    const text = 'host:api -status:200';
    assert.deepEqual(FLOWS.filter(compileFilter(parseFilter(text)).test).map((f) => f.id), ids(text));
  });

  it('lets status and type terms match a flow without a response when asked to (rules decide early)', () => {
    const maybe = compileFilter('status:500 type:json host:slow', { responseUnknown: 'maybe' });
    assert.equal(maybe.test(FLOWS.find((f) => f.id === 'pending')!), true);
    assert.equal(maybe.test(FLOWS.find((f) => f.id === 'users')!), false);
    const negated = compileFilter('-status:500', { responseUnknown: 'maybe' });
    assert.equal(negated.test(FLOWS.find((f) => f.id === 'boom')!), false);
    assert.equal(negated.test(FLOWS.find((f) => f.id === 'pending')!), true);
    assert.equal(readsResponse(parseFilter('host:a -type:json')), true);
    assert.equal(readsResponse(parseFilter('host:a method:GET')), false);
  });
});
