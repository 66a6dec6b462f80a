import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { curl, curlStatus, startHttpServer } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { startRulesProxy, startUpstreams } from './harness.js';

test('respond answers without contacting the server, and the connection stays usable', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/mock', action: { type: 'respond', status: 201, headers: [['Content-Type', 'application/json'], ['X-Mock', '1']], body: '{"ok":true}' } });
  const base = `https://localhost:${up.https.port}`;
  // Two URLs in one curl run share the connection: /real first, then /mock on the same one.
  // HTTP/1.1 here: the reason phrase and connection reuse are what is checked (HTTP/2 in test/proxy/h2/rules-h2.test.ts).
  const r = await curl(proxy, `${base}/mock`, ['--http1.1', '-D', '-', '-w', ' connects=%{num_connects}\n', `${base}/real`]);
  assert.equal(r.code, 0, r.stderr);
  const mock = r.stdout.slice(r.stdout.indexOf('HTTP/1.1 201'));
  assert.match(mock, /^HTTP\/1\.1 201 Created\r\n/);
  assert.match(mock, /content-length: 11\r\n/i);
  assert.match(mock, /X-Mock: 1\r\n/);
  assert.match(mock, /\r\n\r\n\{"ok":true\} connects=0\n$/);
  assert.match(r.stdout, /echo GET \/real  connects=1\n/);
  assert.deepEqual(up.seen.map((s) => s.url), ['/real']);
  const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/mock') && f.state === 'complete');
  assert.equal(flow.response?.status, 201);
  assert.equal((await proxy.store.readBody(flow.id, 'response')).toString(), '{"ok":true}');
});

test('rewrites change the url, request header and body on the way up and response header and body on the way back', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  const rules = [
    { match: 'path:/v1/', action: { type: 'rewrite', target: 'url', find: '/v1/', replace: '/v2/' } },
    { match: 'method:POST', action: { type: 'rewrite', target: 'request-header', find: '^X-Token: .*$', replace: 'X-Token: rewritten' } },
    { match: 'method:POST', action: { type: 'rewrite', target: 'request-body', find: 'secret=\\w+', replace: 'secret=redacted' } },
    { match: 'status:200', action: { type: 'rewrite', target: 'response-header', find: '^x-upstream: yes$', replace: 'X-Upstream: rewritten' } },
    { match: 'status:200', action: { type: 'rewrite', target: 'response-body', find: 'echo', replace: 'ECHOED' } },
  ];
  for (const rule of rules) assert.equal((await api('POST', '/api/rules', rule)).status, 201);
  // HTTP/1.1 keeps the header names' case the regexes match (on HTTP/2 names are lower-case).
  const r = await curl(proxy, `https://localhost:${up.https.port}/v1/items`, ['--http1.1', '-D', '-', '-H', 'X-Token: original', '-d', 'a=1&secret=hunter2']);
  assert.equal(r.code, 0, r.stderr);
  const seen = up.seen[0]!;
  assert.equal(seen.url, '/v2/items');
  assert.equal(seen.headers['x-token'], 'rewritten');
  assert.equal(seen.body, 'a=1&secret=redacted');
  assert.equal(seen.headers['content-length'], String('a=1&secret=redacted'.length));
  const { body } = curlStatus(r);
  const expected = 'ECHOED POST /v2/items a=1&secret=redacted';
  assert.match(body, /X-Upstream: rewritten\r\n/);
  assert.match(body, new RegExp(`content-length: ${expected.length}\\r\\n`, 'i'));
  assert.ok(body.endsWith(`\r\n\r\n${expected}`), body);
});

test('a response-body rewrite reads a gzip body decoded and sends it decoded', { skip: requireTools('curl') }, async (t) => {
  const zipped = await startHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    res.end(gzipSync('hello compressed world'));
  });
  t.after(() => zipped.close());
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: '', action: { type: 'rewrite', target: 'response-body', find: 'compressed', replace: 'plain' } });
  const r = await curl(proxy, `http://127.0.0.1:${zipped.port}/`, ['-D', '-']);
  const { body } = curlStatus(r);
  assert.doesNotMatch(body, /content-encoding/i);
  assert.ok(body.endsWith('\r\n\r\nhello plain world'), body);
});

test('delay holds the exchange at least the given time', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  const DELAY_MS = 400;
  await api('POST', '/api/rules', { match: 'path:/slow', action: { type: 'delay', ms: DELAY_MS } });
  const started = performance.now();
  const r = await curl(proxy, `http://127.0.0.1:${up.http.port}/slow`);
  const elapsed = performance.now() - started;
  assert.equal(curlStatus(r).body, 'echo GET /slow ');
  assert.ok(elapsed >= DELAY_MS, `answered after ${elapsed.toFixed(0)} ms`);
});

test('abort resets or closes the client connection without an answer, and the proxy serves the next request', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/reset', action: { type: 'abort', how: 'reset' } });
  await api('POST', '/api/rules', { match: 'path:/close', action: { type: 'abort', how: 'close' } });
  // curl: 56 = failure receiving (connection reset), 52 = empty reply from server.
  const plainReset = await curl(proxy, `http://127.0.0.1:${up.http.port}/reset`);
  assert.equal(plainReset.code, 56, plainReset.stderr);
  // On HTTP/2 only the stream is reset (test/proxy/h2/rules-h2.test.ts).
  const tlsReset = await curl(proxy, `https://localhost:${up.https.port}/reset`, ['--http1.1']);
  assert.equal(tlsReset.code, 56, tlsReset.stderr);
  const closed = await curl(proxy, `http://127.0.0.1:${up.http.port}/close`);
  assert.equal(closed.code, 52, closed.stderr);
  assert.equal(up.seen.length, 0);
  const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/close') && f.state === 'error');
  assert.equal(flow.error?.code, 'MITM_ERR_ABORTED');
  const ok = await curl(proxy, `https://localhost:${up.https.port}/after`);
  assert.equal(curlStatus(ok).body, 'echo GET /after ');
});

test('the first matching respond or abort wins; disabled rules do nothing', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { enabled: false, match: '', action: { type: 'abort', how: 'reset' } });
  await api('POST', '/api/rules', { match: 'host:127.0.0.1', action: { type: 'respond', status: 200, body: 'first' } });
  await api('POST', '/api/rules', { match: '', action: { type: 'respond', status: 200, body: 'second' } });
  assert.equal(curlStatus(await curl(proxy, `http://127.0.0.1:${up.http.port}/x`)).body, 'first');
  assert.equal(curlStatus(await curl(proxy, `https://localhost:${up.https.port}/x`)).body, 'second');
});
