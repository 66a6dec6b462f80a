import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { TestCa, type KeyPair } from '../../helpers/pki.js';
import { curl, curlStatus, startHttpsServer, startProxyTrusting, type TestProxy } from '../../helpers/servers.js';
import { flowWhere } from '../../helpers/flows.js';
import { requireTools } from '../../helpers/tools.js';
import { tlsThroughProxy } from '../../helpers/tunnel.js';
import { CLIENT_PREFACE, H2FrameReader, type H2FrameEvent } from '../../../src/proxy/h2/frames.js';
import { h2Request, h2ThroughProxy, startH2Server } from './helpers.js';

describe('HTTP/2 through the proxy, on both legs', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let proxy: TestProxy;

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem);
  });
  after(() => proxy.cleanup());

  test('curl --http2 to a Node h2 server: both legs negotiate h2 and the flow shows the frames', async (t) => {
    const seen: string[] = [];
    const server = await startH2Server(pair);
    t.after(() => server.close());
    server.server.on('stream', (stream, headers) => {
      seen.push(`${stream.session?.alpnProtocol}:${String(headers[':path'])}`);
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-upstream': 'h2' });
      stream.end('hello over h2');
    });
    const r = await curl(proxy, `https://localhost:${server.port}/h2?x=1`, ['--http2', '-D', '-']);
    const { status, body } = curlStatus(r);
    assert.equal(status, 200, r.stderr);
    assert.match(body, /^HTTP\/2 200/m, 'curl spoke HTTP/2 to the proxy');
    assert.match(body, /hello over h2$/);
    assert.deepEqual(seen, ['h2:/h2?x=1']);
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state !== 'pending');
    assert.equal(flow.state, 'complete', JSON.stringify(flow.error));
    assert.equal(flow.request.httpVersion, '2');
    assert.equal(flow.response?.httpVersion, '2');
    assert.equal(flow.request.url, `https://localhost:${server.port}/h2?x=1`);
    // Pseudo-headers come first, in the order curl put them on the wire.
    assert.deepEqual(flow.request.headers.slice(0, 4).map(([k]) => k).sort(), [':authority', ':method', ':path', ':scheme']);
    assert.equal(flow.response?.headers[0]?.[0], ':status');
    assert.equal(flow.clientConnection?.tls?.alpn, 'h2');
    assert.deepEqual(flow.clientConnection?.tls?.alpnOffered.includes('h2'), true);
    assert.equal(flow.serverConnection?.tls?.alpn, 'h2');
    assert.deepEqual(flow.serverConnection?.tls?.alpnOffered, ['h2', 'http/1.1']);
    const clientEvents = flow.clientConnection?.http2?.events.map((e) => `${e.from}:${e.type}`) ?? [];
    assert.equal(clientEvents.find((e) => e.startsWith('client:')), 'client:Preface');
    assert.ok(clientEvents.includes('client:SETTINGS') && clientEvents.includes('proxy:SETTINGS'), clientEvents.join());
    const proxySettings = flow.clientConnection?.http2?.events.find((e) => e.from === 'proxy' && e.type === 'SETTINGS' && e.details['ack'] === false);
    assert.ok((proxySettings?.details['settings'] as Array<{ name: string; value: number }>).some((s) => s.name === 'ENABLE_PUSH' && s.value === 0));
    const serverEvents = flow.serverConnection?.http2?.events.map((e) => `${e.from}:${e.type}`) ?? [];
    assert.equal(serverEvents.find((e) => e.startsWith("proxy:")), "proxy:Preface");
    assert.ok(serverEvents.includes('server:SETTINGS'), serverEvents.join());
    const legs = flow.http2?.map((s) => s.leg).sort();
    assert.deepEqual(legs, ['client', 'server']);
    const clientStream = flow.http2?.find((s) => s.leg === 'client');
    assert.equal(clientStream?.sides.client?.headers.length, 1);
    assert.equal(clientStream?.sides.proxy?.dataBytes, 'hello over h2'.length);
  });

  test('an h2 client whose server fails the TLS handshake gets 502, and the flow keeps the server leg', async (t) => {
    const server = await startH2Server(ca.issue(['localhost'], { expired: true }));
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/expired`, ['--http2', '-D', '-']);
    const { status, body } = curlStatus(r);
    assert.equal(status, 502, r.stderr);
    assert.match(body, /^HTTP\/2 502/m, 'answered over HTTP/2');
    assert.match(body, /certificate has expired/);
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_TLS');
    const tls = flow.serverConnection?.tls;
    const ladder = (tls?.events ?? []).map((e) => `${e.from} ${e.type}`);
    assert.ok(ladder.includes('proxy ClientHello') && ladder.includes('server Certificate'), ladder.join(', '));
    assert.equal(ladder.at(-1), 'server Error', ladder.join(', '));
    assert.match(tls?.error ?? '', /certificate has expired/);
  });

  test('an HTTP/1.1-only upstream serves an h2 client, translated both ways with trailers', async (t) => {
    const seen: string[] = [];
    const server = await startHttpsServer(pair, (req, res) => {
      seen.push(`${req.httpVersion} host=${req.headers.host} cookie=${req.headers.cookie}`);
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'keep-alive', 'keep-alive': 'timeout=5', trailer: 'x-sum' });
        res.write(`got ${body} trailer=${req.trailers['x-req']}`);
        res.addTrailers({ 'x-sum': '42' });
        res.end();
      });
    });
    t.after(() => server.close());
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.close());
    const r = await h2Request(session, { ':method': 'POST', ':path': '/up', cookie: ['a=1', 'b=2'], te: 'trailers' }, 'ping', { 'x-req': 'yes' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'got ping trailer=yes');
    assert.equal(r.headers['connection'], undefined, 'connection-specific fields are dropped');
    assert.equal(r.trailers?.['x-sum'], '42');
    assert.deepEqual(seen, [`1.1 host=localhost:${server.port} cookie=a=1; b=2`]);
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state !== 'pending');
    assert.equal(flow.state, 'complete', JSON.stringify(flow.error));
    assert.equal(flow.request.httpVersion, '2');
    assert.equal(flow.response?.httpVersion, '1.1');
    assert.deepEqual(flow.request.trailers, [['x-req', 'yes']]);
    assert.deepEqual(flow.response?.trailers, [['x-sum', '42']]);
    assert.equal(flow.serverConnection?.tls?.alpn, 'http/1.1');
  });

  test('trailers cross h2 to h2 both ways', async (t) => {
    const server = await startH2Server(pair);
    t.after(() => server.close());
    server.server.on('stream', (stream) => {
      let got = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (got += d));
      stream.on('trailers', (tr) => {
        stream.respond({ ':status': 200 }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', echo: String(tr['x-req']) }));
        stream.end(got.toUpperCase());
      });
    });
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.close());
    const r = await h2Request(session, { ':method': 'POST', ':path': '/t' }, 'abc', { 'x-req': 'q' });
    assert.equal(r.body, 'ABC');
    assert.deepEqual(r.trailers && { s: r.trailers['grpc-status'], e: r.trailers['echo'] }, { s: '0', e: 'q' });
  });

  test('100 concurrent streams on one client connection share one upstream connection', async (t) => {
    const server = await startH2Server(pair, { settings: { maxConcurrentStreams: 200 } });
    t.after(() => server.close());
    server.server.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(`n=${String(headers[':path']).slice(1)}`);
    });
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.close());
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => h2Request(session, { ':path': `/${i}` })));
    assert.deepEqual(results.map((r) => r.body), Array.from({ length: 100 }, (_, i) => `n=${i}`));
    assert.equal(server.sessions, 1);
    const flows = proxy.store.list().filter((f) => f.port === server.port);
    assert.equal(flows.length, 100);
    assert.equal(new Set(flows.map((f) => f.serverConnection?.id)).size, 1);
  });

  test('flow control: a stream whose reader stalls holds back only itself', async (t) => {
    const BIG = 32 * 1024 * 1024;
    const server = await startH2Server(pair);
    t.after(() => server.close());
    let bigWritten = 0;
    let bigDone = false;
    server.server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      if (headers[':path'] !== '/big') {
        stream.respond({ ':status': 200 });
        stream.end('small');
        return;
      }
      stream.respond({ ':status': 200 });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (bigWritten < BIG) {
          bigWritten += chunk.length;
          if (!stream.write(chunk)) return void stream.once('drain', pump);
        }
        bigDone = true;
        stream.end();
      };
      pump();
    });
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.destroy());
    const big = session.request({ ':path': '/big' });
    big.on('error', () => {});
    // The client never reads /big: only the windows (ours, then the proxy's) can hold the data.
    big.pause();
    await new Promise((resolve) => big.once('response', resolve));
    // Many round trips on the same connection: time enough for an unbounded relay to move it all.
    for (let i = 0; i < 100; i++) {
      const small = await h2Request(session, { ':path': '/small' });
      assert.equal(small.body, 'small', 'another stream on the same connection still completes');
    }
    assert.ok(!bigDone, 'the unread stream held the server back');
    assert.ok(bigWritten < BIG / 2, `the server wrote ${bigWritten} of ${BIG} bytes before flow control stopped it`);
    big.close(http2.constants.NGHTTP2_CANCEL);
  });

  test('an upstream RST_STREAM reaches the client with the same code and is recorded', async (t) => {
    const server = await startH2Server(pair);
    t.after(() => server.close());
    server.server.on('stream', (stream) => {
      // Closing with an error code makes the server's own stream emit it.
      stream.on('error', () => {});
      stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    });
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.close());
    const r = await h2Request(session, { ':path': '/reset' });
    assert.equal(r.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_H2_STREAM_RESET');
    assert.match(flow.error?.message ?? '', /ENHANCE_YOUR_CALM/);
    const rst = flow.serverConnection?.http2?.events.find((e) => e.type === 'RST_STREAM' && e.from === 'server');
    assert.equal(rst?.details['error'], 'ENHANCE_YOUR_CALM');
    // The client leg records the RST_STREAM the proxy sent on, on the client's stream.
    const clientStream = flow.http2?.find((s) => s.leg === 'client');
    const sent = flow.clientConnection?.http2?.events.find((e) => e.type === 'RST_STREAM' && e.from === 'proxy' && e.stream === clientStream?.streamId);
    assert.deepEqual(sent?.details, { code: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, error: 'ENHANCE_YOUR_CALM' });
    assert.deepEqual(clientStream?.reset && { from: clientStream.reset.from, error: clientStream.reset.error }, { from: 'proxy', error: 'ENHANCE_YOUR_CALM' });
  });

  test('garbage after the preface gets GOAWAY PROTOCOL_ERROR and a flow; other connections are served', async (t) => {
    const server = await startH2Server(pair);
    t.after(() => server.close());
    server.server.on('stream', (stream) => {
      stream.respond({ ':status': 204 });
      stream.end();
    });
    const caPem = await readFile(join(proxy.caDir, 'ca.pem'), 'utf8');
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { ca: caPem, servername: 'localhost', ALPNProtocols: ['h2'] });
    const reader = new H2FrameReader({ expectPreface: false });
    const events: H2FrameEvent[] = [];
    socket.on('data', (d: Buffer) => events.push(...reader.push(d)));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('error', () => {});
    // A valid empty SETTINGS, then bytes that are no frame: a PING on a stream is a PROTOCOL_ERROR.
    socket.write(Buffer.concat([CLIENT_PREFACE, Buffer.from('000000040000000000', 'hex'), Buffer.from('000008060000000001', 'hex'), Buffer.alloc(8)]));
    await closed;
    const goaway = events.find((e) => e.type === 'GOAWAY');
    assert.ok(goaway && goaway.type === 'GOAWAY', JSON.stringify(events));
    assert.equal(goaway.error, 'PROTOCOL_ERROR');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.error?.code === 'MITM_ERR_H2_PROTOCOL');
    assert.match(flow.error?.message ?? '', /PING on stream 1/);
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.close());
    assert.equal((await h2Request(session, { ':path': '/ok' })).status, 204);
  });

  test('an h2 server on a TLS 1.2 suite RFC 9113 forbids gets HTTP/1.1, and the TLS view says why', async (t) => {
    const server = await startH2Server(pair, { allowHTTP1: true, ciphers: 'AES256-SHA', maxVersion: 'TLSv1.2' });
    t.after(() => server.close());
    server.server.on('request', (req, res) => {
      res.end(`spoke ${req.httpVersion}`);
    });
    const r = await curl(proxy, `https://localhost:${server.port}/`, ['--http2']);
    assert.equal(curlStatus(r).body, 'spoke 1.1');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state !== 'pending');
    assert.equal(flow.serverConnection?.tls?.cipher?.name, 'TLS_RSA_WITH_AES_256_CBC_SHA');
    assert.equal(flow.serverConnection?.tls?.alpn, 'http/1.1');
    const why = flow.serverConnection?.tls?.events.find((e) => e.type === 'ALPN');
    assert.match(String(why?.details['reason']), /RFC 9113 §9\.2\.2/);
    assert.ok(flow.notes.some((n) => n.includes('9.2.2')));
  });

  test('an HTTP/1.1 client reaches an h2-only upstream, translated both ways', async (t) => {
    const server = await startH2Server(pair);
    t.after(() => server.close());
    const seen: string[] = [];
    server.server.on('stream', (stream, headers) => {
      seen.push(`${stream.session?.alpnProtocol} ${String(headers[':authority'])} ${String(headers['connection'])}`);
      let got = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => (got += d));
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'x-h2': 'yes' });
        stream.end(`posted ${got}`);
      });
    });
    for (const body of ['one', 'two']) {
      const r = await curl(proxy, `https://localhost:${server.port}/p`, ['--http1.1', '-D', '-', '--data', body]);
      const out = curlStatus(r);
      assert.equal(out.status, 201, r.stderr);
      assert.match(out.body, /^HTTP\/1\.1 201/m);
      assert.match(out.body, /^x-h2: yes/m);
      assert.match(out.body, new RegExp(`posted ${body}$`));
    }
    assert.deepEqual(seen, [`h2 localhost:${server.port} undefined`, `h2 localhost:${server.port} undefined`]);
    assert.equal(server.sessions, 1, 'both requests shared one upstream h2 connection');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state !== 'pending');
    assert.equal(flow.state, 'complete', JSON.stringify(flow.error));
    assert.equal(flow.request.httpVersion, '1.1');
    assert.equal(flow.response?.httpVersion, '2');
    assert.equal(flow.serverConnection?.tls?.alpn, 'h2');
  });

  test('an HTTP/1.1 client reaches an h2-only upstream after h2 clients left an unused upstream connection', async (t) => {
    const server = await startH2Server(pair);
    t.after(() => server.close());
    server.server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('from h2');
    });
    // The second h2 client's CONNECT opens an upstream connection offering h2 that nobody takes:
    // its request rides the session the first one opened.
    for (let i = 0; i < 2; i++) {
      const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
      t.after(() => session.close());
      assert.equal((await h2Request(session, { ':path': `/h2-${i}` })).status, 200);
    }
    const r = await curl(proxy, `https://localhost:${server.port}/h1`, ['--http1.1']);
    const out = curlStatus(r);
    assert.equal(out.status, 200, r.stderr);
    assert.equal(out.body, 'from h2');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.request.url.endsWith('/h1') && f.state !== 'pending');
    assert.equal(flow.state, 'complete', JSON.stringify(flow.error));
    assert.equal(flow.response?.httpVersion, '2');
  });

  test('--no-http2 offers clients only http/1.1', async (t) => {
    const plain = await startProxyTrusting(ca.certPem, { http2: false });
    t.after(() => plain.cleanup());
    const server = await startH2Server(pair, { allowHTTP1: true });
    t.after(() => server.close());
    server.server.on('request', (_req, res) => res.end('ok'));
    const r = await curl(plain, `https://localhost:${server.port}/`, ['--http2', '-D', '-']);
    assert.match(curlStatus(r).body, /^HTTP\/1\.1 200/m);
  });
});
