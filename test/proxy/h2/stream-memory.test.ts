/**
 * Finished HTTP/2 streams must be collectable. Node's Http2Stream.setTimeout keeps its timer (and
 * through it the stream and every listener's closure) until the timeout expires, even after the
 * stream closed: with the proxy's 60 s response timeouts, every upstream stream of the last
 * minute stayed in the heap. Counted here with v8.queryObjects after a real exchange through the
 * proxy, on the h2 → h2 path and on the HTTP/1.1 client → h2-only upstream path. The timeouts that
 * replaced Node's are tested too: an h2 server that never answers, and one that stops mid-body.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { TestCa, type KeyPair } from '../../helpers/pki.js';
import { curl, startProxyTrusting, type TestProxy } from '../../helpers/servers.js';
import { flowWhere } from '../../helpers/flows.js';
import { requireTools } from '../../helpers/tools.js';
import { h2Request, h2ThroughProxy, startH2Server, type H2Server } from './helpers.js';

const REQUESTS = 40;
/** Streams the test itself may still reach (its own last ones, a session's bookkeeping). */
const SLACK = 8;

type Ctor = abstract new (...args: never[]) => unknown;

function live(ctor: Ctor): number {
  // queryObjects collects garbage first, then counts what is reachable.
  return v8.queryObjects(ctor, { format: 'count' }) as number;
}

/** Resolves once the store holds `count` finished flows to this port. */
function finished(proxy: TestProxy, port: number, count: number): Promise<void> {
  const done = (): boolean => proxy.store.list().filter((f) => f.port === port && f.state !== 'pending').length >= count;
  return new Promise((resolve) => {
    if (done()) return resolve();
    const stop = proxy.store.subscribe(() => {
      if (!done()) return;
      stop();
      resolve();
    });
  });
}

describe('finished HTTP/2 streams do not outlive their exchange', () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost']);
  let proxy: TestProxy;
  let server: H2Server;
  let clientStream: Ctor;
  let serverStream: Ctor;

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem);
    server = await startH2Server(pair);
    server.server.on('stream', (stream) => {
      serverStream ??= stream.constructor as Ctor;
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('x'.repeat(1000));
    });
    // One exchange through the proxy names both stream classes for the counts below.
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    const probe = session.request({ ':path': '/probe' });
    clientStream = probe.constructor as Ctor;
    probe.resume();
    await new Promise((resolve) => probe.on('close', resolve));
    session.close();
    await finished(proxy, server.port, 1);
  });
  after(async () => {
    await server.close();
    await proxy.cleanup();
  });

  test('an h2 client through the proxy to an h2 server', async () => {
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    for (let i = 0; i < REQUESTS; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, k) => h2Request(session, { ':path': `/r${i + k}` })));
      assert.ok(batch.every((r) => r.status === 200));
    }
    await finished(proxy, server.port, REQUESTS + 1);
    session.close();
    await new Promise((resolve) => session.on('close', resolve));
    // The proxy's upstream streams are ClientHttp2Streams, its client-facing ones ServerHttp2Streams.
    const clients = live(clientStream);
    const servers = live(serverStream);
    assert.ok(clients <= SLACK, `${clients} ClientHttp2Stream objects still reachable after ${REQUESTS} finished exchanges`);
    assert.ok(servers <= SLACK, `${servers} ServerHttp2Stream objects still reachable after ${REQUESTS} finished exchanges`);
  });

  test('an HTTP/1.1 client through the proxy to an h2-only server', { skip: requireTools('curl') }, async () => {
    const already = live(clientStream);
    const urls = Array.from({ length: REQUESTS }, (_, i) => `https://localhost:${server.port}/h1-${i}`);
    // One curl, one keep-alive connection, every URL in turn (the first goes through curl()).
    const r = await curl(proxy, urls[0]!, ['--http1.1', '-o', '/dev/null', ...urls.slice(1).flatMap((u) => ['-o', '/dev/null', u])]);
    assert.equal(r.code, 0, r.stderr);
    await finished(proxy, server.port, 2 * REQUESTS + 1);
    const relayed = proxy.store.list().filter((f) => f.port === server.port && f.request.url.includes('/h1-') && f.state === 'complete' && f.response?.httpVersion === '2');
    assert.equal(relayed.length, REQUESTS, 'every HTTP/1.1 request was relayed to the server over h2');
    const clients = live(clientStream);
    assert.ok(clients - already <= SLACK, `${clients - already} more ClientHttp2Stream objects reachable after ${REQUESTS} finished exchanges`);
  });
});

describe('response timeouts on h2 upstream streams', () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost']);
  let proxy: TestProxy;
  let server: H2Server;

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem, { headersTimeout: 300, bodyTimeout: 300 });
    server = await startH2Server(pair);
    server.server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      if (headers[':path'] === '/silent') return;
      // Headers and a first chunk, then nothing more.
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.write('first chunk');
    });
  });
  after(async () => {
    await server.close();
    await proxy.cleanup();
  });

  test('no response headers: the h2 client gets an error answer naming the timeout, the flow records it', async () => {
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    const r = await h2Request(session, { ':path': '/silent' });
    session.close();
    assert.equal(r.status, 504, JSON.stringify(r));
    assert.match(r.body, /no response headers within 300 ms/);
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.request.url.endsWith('/silent') && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_TIMEOUT');
  });

  test('a body that stops: the stream is ended for the client and the flow says why', async () => {
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    const r = await h2Request(session, { ':path': '/stalls' });
    session.close();
    assert.equal(r.status, 200);
    assert.equal(r.body, 'first chunk');
    assert.notEqual(r.rstCode, 0, 'the client sees the stream reset, not a complete body');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.request.url.endsWith('/stalls') && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_TIMEOUT');
    assert.match(flow.error?.message ?? '', /no body data for 300 ms/);
  });
});
