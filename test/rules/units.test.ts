import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { FieldError } from '../../src/errors.js';
import { applyRewrite, fixLength, parseRequestEdits, parseResponseEdits, type RequestDraft, type ResponseDraft } from '../../src/rules/edits.js';
import { planRequest, planResponse } from '../../src/rules/plan.js';
import { RuleSet } from '../../src/rules/rule-set.js';
import { JsonFileRules } from '../../src/rules/persist.js';
import { isMitmError } from '../../src/errors.js';
import { validateRules } from '../../src/rules/validate.js';
import { Breakpoints } from '../../src/rules/breakpoints.js';
import type { FilterSubject } from '../../src/filter/match.js';
import { draftToH2Request, draftToH2Response, forbiddenOnH2 } from '../../src/proxy/h2/translate.js';
import { movedTarget } from '../../src/rules/target.js';

function subject(over: Partial<FilterSubject> = {}): FilterSubject {
  return { method: 'GET', url: 'https://api.example/v1/users', host: 'api.example', status: null, contentType: null, tlsVersion: null, ...over };
}

async function ruleSet(rules: unknown[]): Promise<RuleSet> {
  const set = new RuleSet();
  await set.replaceAll(validateRules(rules));
  return set;
}

describe('rule validation', () => {
  it('names the index, field and reason of the first bad rule', () => {
    const err = (() => {
      try {
        validateRules([{ action: { type: 'delay', ms: 1 } }, { action: { type: 'rewrite', target: 'nowhere', find: 'a' } }]);
      } catch (e) {
        return e;
      }
      return null;
    })();
    assert.ok(err instanceof FieldError);
    assert.deepEqual([err.code, err.index, err.field], ['MITM_ERR_RULE_INVALID', 1, 'action.target']);
    assert.throws(() => validateRules({}), (e: unknown) => e instanceof FieldError && e.field === 'rules');
    assert.throws(() => validateRules([{ id: 'x', action: { type: 'abort' } }, { id: 'x', action: { type: 'abort' } }]), (e: unknown) => e instanceof FieldError && e.index === 1 && e.field === 'id');
  });

  it('fills defaults: enabled, empty match, pause at request, reset, status 200', () => {
    const [pause, abort, respond] = validateRules([{ action: { type: 'pause' } }, { action: { type: 'abort' } }, { action: { type: 'respond' } }]);
    assert.deepEqual([pause!.enabled, pause!.match, pause!.action], [true, '', { type: 'pause', at: 'request' }]);
    assert.deepEqual(abort!.action, { type: 'abort', how: 'reset' });
    assert.deepEqual(respond!.action, { type: 'respond', status: 200, headers: [], body: '' });
  });

  it('refuses header values with line breaks in edits', () => {
    assert.throws(() => parseRequestEdits({ headers: [['X-A', 'one\r\nX-B: two']] }), (e: unknown) => e instanceof FieldError && e.field === 'headers[0]' && e.code === 'MITM_ERR_EDIT_INVALID');
    assert.deepEqual(parseRequestEdits({ method: 'patch', body: { base64: 'aGk=' } }), { method: 'PATCH', body: Buffer.from('hi') });
  });

  it("accepts an HTTP/2 flow's pseudo-header lines in edits and leaves them out; rules may not set them", () => {
    const edits = parseRequestEdits({ headers: [[':method', 'GET'], [':path', '/x'], ['x-a', '1']] });
    assert.deepEqual(edits.headers, [['x-a', '1']]);
    assert.deepEqual(parseResponseEdits({ status: 201, headers: [[':status', '200'], ['x-b', '2']] }).headers, [['x-b', '2']]);
    assert.throws(() => parseRequestEdits({ headers: [[':', 'x']] }), (e: unknown) => e instanceof FieldError && e.field === 'headers[0]');
    assert.throws(() => validateRules([{ action: { type: 'respond', headers: [[':status', '200']] } }]), (e: unknown) => e instanceof FieldError && e.field === 'action.headers[0]');
  });
});

describe('rule plans', () => {
  it('leaves an exchange no rule touches alone', async () => {
    const set = await ruleSet([{ match: 'host:other', action: { type: 'pause' } }, { enabled: false, match: '', action: { type: 'abort' } }]);
    assert.equal(planRequest(set.active, subject()), null);
  });

  it('takes the first respond or abort, every rewrite and delay, and a request pause', async () => {
    const set = await ruleSet([
      { match: '', action: { type: 'delay', ms: 10 } },
      { match: 'path:/v1', action: { type: 'delay', ms: 5 } },
      { match: 'method:GET', action: { type: 'rewrite', target: 'url', find: 'v1', replace: 'v2' } },
      { match: 'method:GET', action: { type: 'rewrite', target: 'request-header', find: 'a', replace: 'b' } },
      { match: '', action: { type: 'abort', how: 'close' } },
      { match: '', action: { type: 'respond', status: 204 } },
      { match: 'users', action: { type: 'pause', at: 'both' } },
    ]);
    const plan = planRequest(set.active, subject())!;
    assert.equal(plan.delayMs, 15);
    assert.deepEqual(plan.final, { type: 'abort', how: 'close' });
    assert.deepEqual(plan.rewrites.map((r) => r.target), ['url', 'request-header']);
    assert.equal(plan.pause, true);
    assert.equal(plan.holdResponse, true);
  });

  it('holds the response when a response rule may match, and decides with the status', async () => {
    const set = await ruleSet([
      { match: 'status:5xx', action: { type: 'pause', at: 'response' } },
      { match: 'type:json', action: { type: 'rewrite', target: 'response-body', find: 'a', replace: 'b' } },
      { match: 'status:500', action: { type: 'delay', ms: 7 } },
    ]);
    const plan = planRequest(set.active, subject())!;
    assert.deepEqual([plan.holdResponse, plan.pause, plan.delayMs], [true, false, 0]);
    assert.deepEqual(planResponse(set.active, subject({ status: 200, contentType: 'text/html' })), { delayMs: 0, rewrites: [], pause: false });
    const bad = planResponse(set.active, subject({ status: 500, contentType: 'application/json' }));
    assert.deepEqual([bad.pause, bad.delayMs, bad.rewrites.length], [true, 7, 1]);
  });
});

describe('edits', () => {
  it('makes Content-Length match the body and drops chunked framing', () => {
    assert.deepEqual(fixLength([['Transfer-Encoding', 'chunked'], ['X', '1']], Buffer.from('abc'), false), [['X', '1'], ['Content-Length', '3']]);
    assert.deepEqual(fixLength([['content-length', '99'], ['Content-Length', '99']], Buffer.from('ab'), false), [['content-length', '2']]);
    assert.deepEqual(fixLength([], Buffer.alloc(0), false), []);
    assert.deepEqual(fixLength([], Buffer.alloc(0), true), [['Content-Length', '0']]);
  });

  it('rewrites header lines, removing a header whose line becomes empty', () => {
    const draft: ResponseDraft = { status: 200, statusText: 'OK', headers: [['Set-Cookie', 'a=1'], ['Server', 'nginx']], body: Buffer.alloc(0) };
    applyRewrite(draft, 'response-header', '^Set-Cookie: .*$', '');
    applyRewrite(draft, 'response-header', 'nginx', 'hidden');
    assert.deepEqual(draft.headers, [['Server', 'hidden']]);
  });

  it('refuses a url rewrite that would break the URL', () => {
    const draft: RequestDraft = { method: 'GET', url: 'https://a.example/x', headers: [], body: Buffer.alloc(0) };
    applyRewrite(draft, 'url', '^https://', 'nonsense ');
    assert.equal(draft.url, 'https://a.example/x');
    applyRewrite(draft, 'url', 'a\\.example', 'b.example:8443');
    assert.equal(draft.url, 'https://b.example:8443/x');
  });

  it('rewrites a gzip body as text and drops its encoding', () => {
    const draft: ResponseDraft = { status: 200, statusText: '', headers: [['Content-Encoding', 'gzip']], body: gzipSync('x=1') };
    applyRewrite(draft, 'response-body', '1', '2');
    assert.deepEqual([draft.headers, draft.body.toString()], [[], 'x=2']);
  });
});

describe('breakpoints', () => {
  it('settles each waiter once: resume, abort, timeout or gone', async () => {
    const bp = new Breakpoints(20);
    const resumed = bp.wait('a', 'request');
    const aborted = bp.wait('b', 'response');
    const timedOut = bp.wait('c', 'request');
    const gone = bp.wait('d', 'request');
    assert.equal(bp.phaseOf('b'), 'response');
    assert.equal(bp.resume('a', { method: 'PUT' }), true);
    assert.equal(bp.resume('a', {}), false);
    assert.equal(bp.abort('b'), true);
    bp.close();
    assert.deepEqual(await resumed, { kind: 'resume', edits: { method: 'PUT' } });
    assert.deepEqual(await aborted, { kind: 'abort' });
    assert.deepEqual(await gone, { kind: 'gone' });
    assert.deepEqual(await timedOut, { kind: 'gone' });
    assert.equal(bp.size, 0);
    assert.deepEqual(await new Breakpoints(5).wait('e', 'request'), { kind: 'timeout' });
  });
});

describe('rule persistence', () => {
  it('keeps the old list when the new one cannot be saved', async () => {
    // A path below a regular file can never be created (ENOTDIR).
    const set = new RuleSet(new JsonFileRules('/dev/null/rules.json'));
    await assert.rejects(set.add(validateRules([{ action: { type: 'abort' } }])[0]!), (e: unknown) => isMitmError(e) && e.code === 'MITM_ERR_RULES_IO');
    assert.deepEqual([set.list(), set.active], [[], []]);
  });
});

describe('drafts on HTTP/2', () => {
  it('names the fields RFC 9113 §8.2.2 forbids, once each, lower-case', () => {
    const headers: [string, string][] = [['Connection', 'close, X-Hop'], ['X-Hop', '1'], ['TE', 'gzip'], ['te', 'trailers'], ['Keep-Alive', '5'], ['Accept', '*/*'], [':path', '/']];
    assert.deepEqual(forbiddenOnH2(headers), ['connection', 'x-hop', 'te', 'keep-alive']);
    assert.deepEqual(forbiddenOnH2([['te', 'trailers'], ['content-length', '3']]), []);
  });

  it('rebuilds pseudo-headers from the method and URL and lower-cases the rest', () => {
    const pairs = draftToH2Request('PUT', new URL('https://api.example:8443/v2/x?q=1'), [[':path', '/stale'], ['X-Token', 'a'], ['Upgrade', 'h2c'], ['Content-Length', '3']]);
    assert.deepEqual(pairs, [
      [':method', 'PUT'],
      [':scheme', 'https'],
      [':authority', 'api.example:8443'],
      [':path', '/v2/x?q=1'],
      ['x-token', 'a'],
      ['content-length', '3'],
    ]);
    assert.deepEqual(draftToH2Response(418, [[':status', '200'], ['Content-Type', 'text/plain'], ['Connection', 'keep-alive'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]), {
      ':status': 418,
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('moves a draft to another origin only when its URL leaves the current one', () => {
    const here = { scheme: 'https' as const, host: 'api.example', port: 443, servername: 'api.example' };
    assert.equal(movedTarget(here, new URL('https://api.example/other')), null);
    assert.deepEqual(movedTarget(here, new URL('http://127.0.0.1:8080/')), { scheme: 'http', host: '127.0.0.1', port: 8080, servername: null });
    assert.equal(movedTarget({ scheme: 'http', host: '::1', port: 8080, servername: null }, new URL('http://[::1]:8080/x')), null);
  });
});
