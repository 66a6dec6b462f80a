/**
 * Rules, breakpoints and served HARs on HTTP/2 streams: real h2 clients (node:http2, curl
 * --http2) through the proxy to a Node h2 upstream and to an HTTP/1.1-only upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { curl, curlStatus, tempDir } from '../../helpers/servers.js';
import { flowWhere } from '../../helpers/flows.js';
import { requireTools } from '../../helpers/tools.js';
import { pair, startRulesProxy, startUpstreams, type Seen } from '../../rules/harness.js';
import { h2Request, h2ThroughProxy, startH2Server } from './helpers.js';
import { MAX_HELD_BODY_BYTES, STREAMED_WITHOUT_RULES } from '../../../src/rules/hold.js';

interface Upstream {
  kind: 'h2' | 'http/1.1';
  port: number;
  seen: Seen[];
}

/** An h2 upstream that answers like the rules harness's HTTP/1.1 one: `echo <method> <path> <body>`. */
async function startH2Echo(t: TestContext): Promise<Upstream> {
  const server = await startH2Server(pair);
  t.after(() => server.close());
  const seen: Seen[] = [];
  server.server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => {
      const path = String(headers[':path']);
      seen.push({ method: String(headers[':method']), url: path, headers, body });
      const status = /^\/status\/(\d{3})/.exec(path)?.[1];
      stream.respond({ ':status': status ? Number(status) : 200, 'content-type': 'text/plain', 'x-upstream': 'yes' });
      stream.end(`echo ${String(headers[':method'])} ${path} ${body}`);
    });
  });
  return { kind: 'h2', port: server.port, seen };
}

async function upstreams(t: TestContext): Promise<Upstream[]> {
  const h1 = await startUpstreams(t);
  return [await startH2Echo(t), { kind: 'http/1.1', port: h1.https.port, seen: h1.seen }];
}

test('respond rules answer h2 streams without the server; forbidden fields are dropped with a note', async (t) => {
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/mock', action: { type: 'respond', status: 201, headers: [['Content-Type', 'application/json'], ['X-Mock', '1'], ['Connection', 'close']], body: '{"ok":true}' } });
  for (const up of await upstreams(t)) {
    const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
    t.after(() => session.close());
    const [mock, real] = await Promise.all([h2Request(session, { ':path': '/mock' }), h2Request(session, { ':path': '/real' })]);
    assert.equal(mock.status, 201, up.kind);
    assert.equal(mock.body, '{"ok":true}');
    assert.equal(mock.headers['x-mock'], '1');
    assert.equal(mock.headers['content-length'], '11');
    assert.equal(mock.headers['connection'], undefined);
    assert.equal(real.body, 'echo GET /real ', 'the other stream on the connection went upstream');
    assert.deepEqual(up.seen.map((s) => s.url), ['/real'], up.kind);
    const flow = await flowWhere(proxy, (f) => f.port === up.port && f.request.url.endsWith('/mock') && f.state === 'complete');
    assert.equal(flow.request.httpVersion, '2');
    assert.equal(flow.response?.httpVersion, '2');
    assert.ok(flow.notes.some((n) => n.includes('answered by a rule')), flow.notes.join());
    assert.ok(flow.notes.some((n) => /connection .*RFC 9113 §8\.2\.2/.test(n)), flow.notes.join());
    assert.equal((await proxy.store.readBody(flow.id, 'response')).toString(), '{"ok":true}');
  }
});

test('curl --http2 gets a mocked answer over HTTP/2, and a reset stream for an abort rule', { skip: requireTools('curl') }, async (t) => {
  const up = await startH2Echo(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/mock', action: { type: 'respond', status: 418, headers: [['X-Mock', 'curl']], body: 'teapot' } });
  const r = await curl(proxy, `https://localhost:${up.port}/mock`, ['--http2', '-D', '-']);
  const { status, body } = curlStatus(r);
  assert.equal(status, 418, r.stderr);
  assert.match(body, /^HTTP\/2 418/m);
  assert.match(body, /^x-mock: curl\r$/m);
  assert.ok(body.endsWith('\r\n\r\nteapot'), body);
  assert.equal(up.seen.length, 0);

  await api('POST', '/api/rules', { match: 'path:/drop', action: { type: 'abort', how: 'reset' } });
  const dropped = await curl(proxy, `https://localhost:${up.port}/drop`, ['--http2']);
  // curl: 92 = HTTP/2 stream error.
  assert.equal(dropped.code, 92, dropped.stderr);
  assert.match(dropped.stderr, /INTERNAL_ERROR/);
});

test('rewrites change an h2 request on the way up and its response on the way back, to either upstream', async (t) => {
  const { proxy, api } = await startRulesProxy(t);
  const rules = [
    { match: 'path:/v1/', action: { type: 'rewrite', target: 'url', find: '/v1/', replace: '/v2/' } },
    { match: 'method:POST', action: { type: 'rewrite', target: 'request-header', find: '^x-token: .*$', replace: 'X-Token: rewritten' } },
    { match: 'method:POST', action: { type: 'rewrite', target: 'request-header', find: '^x-drop: .*$', replace: 'Keep-Alive: timeout=5' } },
    { match: 'method:POST', action: { type: 'rewrite', target: 'request-body', find: 'secret=\\w+', replace: 'secret=redacted' } },
    { match: 'status:200', action: { type: 'rewrite', target: 'response-header', find: '^x-upstream: yes$', replace: 'X-Upstream: rewritten' } },
    { match: 'status:200', action: { type: 'rewrite', target: 'response-body', find: 'echo', replace: 'ECHOED' } },
  ];
  for (const rule of rules) assert.equal((await api('POST', '/api/rules', rule)).status, 201);
  for (const up of await upstreams(t)) {
    const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
    t.after(() => session.close());
    const r = await h2Request(session, { ':method': 'POST', ':path': '/v1/items', 'x-token': 'original', 'x-drop': '1' }, 'a=1&secret=hunter2');
    const seen = up.seen[0]!;
    assert.equal(seen.url, '/v2/items', up.kind);
    assert.equal(seen.headers['x-token'], 'rewritten');
    assert.equal(seen.headers['keep-alive'], undefined, 'a forbidden field from a rule is not sent');
    assert.equal(seen.body, 'a=1&secret=redacted');
    assert.equal(seen.headers['content-length'], String('a=1&secret=redacted'.length));
    const expected = 'ECHOED POST /v2/items a=1&secret=redacted';
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'rewritten');
    assert.equal(r.headers['content-length'], String(expected.length));
    assert.equal(r.body, expected);
    const flow = await flowWhere(proxy, (f) => f.port === up.port && f.state === 'complete');
    assert.equal(flow.request.url, `https://localhost:${up.port}/v2/items`);
    assert.ok(flow.request.headers.some(([n, v]) => n === ':path' && v === '/v2/items'), 'the flow shows the path sent');
    assert.ok(flow.notes.some((n) => /keep-alive .*RFC 9113/.test(n)), flow.notes.join());
    assert.equal(flow.serverConnection?.tls?.alpn, up.kind);
  }
});

test('delay holds an h2 stream, not the connection', async (t) => {
  const up = await startH2Echo(t);
  const { proxy, api } = await startRulesProxy(t);
  const DELAY_MS = 1000;
  await api('POST', '/api/rules', { match: 'path:/slow', action: { type: 'delay', ms: DELAY_MS } });
  const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
  t.after(() => session.close());
  // Both legs connected first, so the undelayed stream has only its own round trip to make.
  assert.equal((await h2Request(session, { ':path': '/warm' })).status, 200);
  const order: string[] = [];
  const started = performance.now();
  const slow = h2Request(session, { ':path': '/slow' }).then((r) => {
    order.push('slow');
    return r;
  });
  const fast = await h2Request(session, { ':path': '/fast' });
  order.push('fast');
  assert.equal((await slow).body, 'echo GET /slow ');
  assert.ok(performance.now() - started >= DELAY_MS);
  assert.equal(fast.body, 'echo GET /fast ');
  assert.deepEqual(order, ['fast', 'slow']);
});

test('abort rules reset only their h2 stream, with a RST_STREAM code the flow records', async (t) => {
  const up = await startH2Echo(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/reset', action: { type: 'abort', how: 'reset' } });
  await api('POST', '/api/rules', { match: 'path:/close', action: { type: 'abort', how: 'close' } });
  const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
  t.after(() => session.close());
  const [reset, closed, ok] = await Promise.all([
    h2Request(session, { ':path': '/reset' }),
    h2Request(session, { ':path': '/close' }),
    h2Request(session, { ':path': '/fine' }),
  ]);
  assert.equal(reset.status, 0, 'no answer');
  assert.equal(reset.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  assert.equal(closed.status, 0, 'no answer');
  assert.equal(closed.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(ok.body, 'echo GET /fine ', 'the other stream carried on');
  assert.equal((await h2Request(session, { ':path': '/after' })).body, 'echo GET /after ', 'the connection still serves');
  assert.deepEqual(up.seen.map((s) => s.url).sort(), ['/after', '/fine']);
  const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/reset') && f.state === 'error');
  assert.equal(flow.error?.code, 'MITM_ERR_ABORTED');
  assert.equal(flow.error?.stage, 'intercept');
  assert.match(flow.error?.message ?? '', /RST_STREAM INTERNAL_ERROR/);
  const streamId = flow.http2?.find((s) => s.leg === 'client')?.streamId;
  const sent = flow.clientConnection?.http2?.events.find((e) => e.type === 'RST_STREAM' && e.from === 'proxy' && e.stream === streamId);
  assert.equal(sent?.details['error'], 'INTERNAL_ERROR');
  const closedFlow = await flowWhere(proxy, (f) => f.request.url.endsWith('/close') && f.state === 'error');
  assert.match(closedFlow.error?.message ?? '', /RST_STREAM NO_ERROR/);
});

test('a request breakpoint holds one h2 stream while another on the connection completes; resumed with edits', async (t) => {
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/hold', action: { type: 'pause', at: 'request' } });
  for (const up of await upstreams(t)) {
    const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
    t.after(() => session.close());
    const held = h2Request(session, { ':method': 'POST', ':path': '/hold', 'x-edit': 'before' }, 'original body');
    const paused = await flowWhere(proxy, (f) => f.port === up.port && f.state === 'paused');
    assert.equal(paused.paused, 'request');
    assert.equal(paused.request.httpVersion, '2');
    const other = await h2Request(session, { ':path': '/other' });
    assert.equal(other.body, 'echo GET /other ', 'a stream on the same connection completes meanwhile');
    assert.equal(proxy.breakpoints.phaseOf(paused.id), 'request', 'still paused');
    assert.equal((await proxy.store.readBody(paused.id, 'request')).toString(), 'original body');
    // The editor sends back the flow's lines, pseudo-headers included.
    const headers = paused.request.headers.map(([n, v]): [string, string] => (n === 'x-edit' ? [n, 'after'] : [n, v]));
    const resumed = await api('POST', `/api/flows/${paused.id}/resume`, { headers, body: 'the edited, longer body' });
    assert.deepEqual(resumed, { status: 200, json: { resumed: paused.id, at: 'request' } });
    const r = await held;
    assert.equal(r.body, 'echo POST /hold the edited, longer body', up.kind);
    const seen = up.seen.find((s) => s.url === '/hold')!;
    assert.equal(seen.headers['x-edit'], 'after');
    assert.equal(seen.headers['content-length'], String('the edited, longer body'.length));
    const done = await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'complete');
    assert.equal((await proxy.store.readBody(done.id, 'request')).toString(), 'the edited, longer body');
  }
  assert.equal(proxy.breakpoints.size, 0);
});

test('a response breakpoint on an h2 stream: edited status and body reach the client; abort answers 502', async (t) => {
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'status:2xx path:/resp', action: { type: 'pause', at: 'response' } });
  await api('POST', '/api/rules', { match: 'path:/doomed', action: { type: 'pause', at: 'request' } });
  for (const up of await upstreams(t)) {
    const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
    t.after(() => session.close());
    const client = h2Request(session, { ':path': '/resp' });
    const paused = await flowWhere(proxy, (f) => f.port === up.port && f.state === 'paused');
    assert.equal(paused.paused, 'response');
    assert.equal((await proxy.store.readBody(paused.id, 'response')).toString(), 'echo GET /resp ');
    const headers = paused.response!.headers;
    assert.equal((await api('POST', `/api/flows/${paused.id}/resume`, { status: 418, headers, body: 'short and stout' })).status, 200);
    const r = await client;
    assert.equal(r.status, 418, up.kind);
    assert.equal(r.body, 'short and stout');
    assert.equal(r.headers['content-length'], '15');
    assert.equal(r.headers['x-upstream'], 'yes');
    await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'complete');

    const doomed = h2Request(session, { ':path': '/doomed' });
    const held = await flowWhere(proxy, (f) => f.port === up.port && f.state === 'paused');
    assert.deepEqual(await api('POST', `/api/flows/${held.id}/abort`), { status: 200, json: { aborted: held.id, at: 'request' } });
    const aborted = await doomed;
    assert.equal(aborted.status, 502);
    assert.equal(aborted.headers['x-mitmscope-error'], 'MITM_ERR_ABORTED');
    assert.match(aborted.body, /aborted in mitmscope/);
    assert.equal(up.seen.filter((s) => s.url === '/doomed').length, 0);
  }
});

test('a client that resets a paused h2 stream wakes its waiter; the connection serves on', async (t) => {
  const up = await startH2Echo(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/gone', action: { type: 'pause' } });
  const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
  t.after(() => session.close());
  const req = session.request({ ':path': '/gone' });
  req.on('error', () => {});
  const paused = await flowWhere(proxy, (f) => f.state === 'paused');
  req.close(http2.constants.NGHTTP2_CANCEL);
  const failed = await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'error');
  assert.equal(failed.error?.code, 'MITM_ERR_CLIENT_ABORTED');
  assert.match(failed.error?.message ?? '', /CANCEL/);
  assert.equal(proxy.breakpoints.size, 0);
  assert.equal((await h2Request(session, { ':path': '/next' })).body, 'echo GET /next ');
  assert.equal(up.seen.filter((s) => s.url === '/gone').length, 0);
});

test('--serve-har answers h2 streams from the recording', async (t) => {
  const up = await startH2Echo(t);
  const dir = await tempDir();
  t.after(() => dir.remove());
  const file = join(dir.path, 'recorded.har');
  const url = `https://localhost:${up.port}/recorded`;
  const entry = {
    startedDateTime: '2026-03-14T09:26:53.589Z',
    time: 5,
    request: { method: 'GET', url, httpVersion: 'HTTP/1.1', cookies: [], headers: [], queryString: [], headersSize: -1, bodySize: 0 },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [{ name: 'Content-Type', value: 'text/plain' }, { name: 'Connection', value: 'keep-alive' }],
      content: { size: 8, mimeType: 'text/plain', text: 'recorded' },
      redirectURL: '',
      headersSize: -1,
      bodySize: 8,
    },
    cache: {},
    timings: { send: 1, wait: 3, receive: 1 },
  };
  await writeFile(file, JSON.stringify({ log: { version: '1.2', creator: { name: 'test', version: '1' }, entries: [entry] } }));
  const { proxy } = await startRulesProxy(t, { serveHar: file });
  const session = await h2ThroughProxy(proxy, `localhost:${up.port}`);
  t.after(() => session.close());
  const r = await h2Request(session, { ':path': '/recorded' });
  assert.deepEqual({ status: r.status, body: r.body, type: r.headers['content-type'] }, { status: 200, body: 'recorded', type: 'text/plain' });
  assert.equal((await h2Request(session, { ':path': '/live' })).body, 'echo GET /live ');
  assert.deepEqual(up.seen.map((s) => s.url), ['/live']);
  const flow = await flowWhere(proxy, (f) => f.request.url === url && f.state === 'complete');
  assert.ok(flow.notes.some((n) => n.includes('recorded.har')), flow.notes.join());
});

test('an edit moves an h2 stream to another origin; an edited status HTTP/2 cannot carry is refused with a 400', async (t) => {
  const [h2up, h1up] = await upstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/move', action: { type: 'pause', at: 'request' } });
  await api('POST', '/api/rules', { match: 'path:/switch', action: { type: 'pause', at: 'response' } });
  const session = await h2ThroughProxy(proxy, `localhost:${h2up!.port}`);
  t.after(() => session.close());

  const moving = h2Request(session, { ':path': '/move' });
  const paused = await flowWhere(proxy, (f) => f.state === 'paused');
  await api('POST', `/api/flows/${paused.id}/resume`, { url: `https://localhost:${h1up!.port}/moved` });
  assert.equal((await moving).body, 'echo GET /moved ');
  assert.equal(h2up!.seen.length, 0);
  assert.deepEqual(h1up!.seen.map((s) => s.url), ['/moved']);
  const moved = await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'complete');
  assert.equal(moved.port, h1up!.port);
  assert.equal(moved.serverConnection?.tls?.alpn, 'http/1.1');

  const switching = h2Request(session, { ':path': '/switch' });
  const held = await flowWhere(proxy, (f) => f.state === 'paused');
  assert.equal(held.paused, 'response');
  await api('POST', `/api/flows/${held.id}/resume`, { status: 101 });
  const r = await switching;
  assert.equal(r.status, 400);
  assert.equal(r.headers['x-mitmscope-error'], 'MITM_ERR_EDIT_INVALID');
  assert.match(r.body, /cannot be sent on HTTP\/2/);
  const failed = await flowWhere(proxy, (f) => f.id === held.id && f.state === 'error');
  assert.equal(failed.error?.stage, 'intercept');
  assert.equal((await h2Request(session, { ':path': '/still' })).body, 'echo GET /still ', 'the connection serves on');
});

test('a response too large to hold streams on untouched to the h2 client, and the flow says so', async (t) => {
  const SIZE = MAX_HELD_BODY_BYTES + 1;
  const server = await startH2Server(pair);
  t.after(() => server.close());
  server.server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    let left = SIZE;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!stream.write(piece)) return void stream.once('drain', pump);
      }
      stream.end();
    };
    pump();
  });
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/big', action: { type: 'rewrite', target: 'response-body', find: 'x', replace: 'y' } });
  const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
  t.after(() => session.close());
  const req = session.request({ ':path': '/big' });
  let bytes = 0;
  let ys = false;
  req.on('data', (d: Buffer) => {
    bytes += d.length;
    ys ||= d.includes(0x79);
  });
  await new Promise((resolve) => req.once('close', resolve));
  assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  assert.equal(bytes, SIZE);
  assert.equal(ys, false, 'not rewritten');
  const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'complete');
  assert.ok(flow.notes.includes(STREAMED_WITHOUT_RULES), flow.notes.join());
});

test('trailers cross a held h2 request and a held response both ways (gRPC status survives rules)', async (t) => {
  const server = await startH2Server(pair);
  t.after(() => server.close());
  server.server.on('stream', (stream) => {
    let got = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (got += d));
    stream.on('trailers', (tr) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', echo: String(tr['x-req']) }));
      stream.end(`got ${got}`);
    });
  });
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/t', action: { type: 'rewrite', target: 'request-body', find: 'abc', replace: 'ABC' } });
  await api('POST', '/api/rules', { match: 'path:/t', action: { type: 'rewrite', target: 'response-body', find: 'got', replace: 'GOT' } });
  const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
  t.after(() => session.close());
  const r = await h2Request(session, { ':method': 'POST', ':path': '/t' }, 'abc', { 'x-req': 'q' });
  assert.equal(r.body, 'GOT ABC');
  assert.deepEqual(r.trailers && { s: r.trailers['grpc-status'], e: r.trailers['echo'] }, { s: '0', e: 'q' });
  const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'complete');
  assert.deepEqual(flow.response?.trailers, [['grpc-status', '0'], ['echo', 'q']]);
});
