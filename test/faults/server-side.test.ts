import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { TestCa, selfSigned } from '../helpers/pki.js';
import { curl, curlStatus, run, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { exchange, tlsThroughProxy } from '../helpers/tunnel.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { blackholePort } from '../helpers/blackhole.js';


/** A raw TCP server that answers every connection with `onConnection`. */
async function rawServer(onConnection: (socket: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('close', () => sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('hostile and failing servers', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let good: Listening;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    good = await startHttpsServer(ca.issue(['localhost']), (req, res) => res.end(`ok ${req.url}`));
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], connectTimeout: 1000, headersTimeout: 1000, bodyTimeout: 1000 });
  });
  after(async () => {
    await proxy.cleanup();
    await good.close();
    await files.remove();
  });

  async function sentinel(): Promise<void> {
    const r = await curl(proxy, `https://localhost:${good.port}/sentinel`);
    assert.equal(curlStatus(r).body, 'ok /sentinel', r.stderr);
  }

  test('an upstream that never completes the TCP handshake gets 504 naming the connect stage', { skip: requireTools('python3') }, async (t) => {
    const port = await blackholePort(t);
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '-w', '\n%{http_code}', `http://127.0.0.1:${port}/`]);
    const { body, status } = curlStatus(r);
    assert.equal(status, 504);
    assert.equal(body, `mitmscope: TCP connection to 127.0.0.1:${port} timed out\n`);
    const flow = await flowWhere(proxy, (f) => f.port === port && f.state === 'error');
    assert.equal(flow.error?.stage, 'connect');
    await sentinel();
  });

  test('a raw tunnel to a refused port answers the CONNECT with 502 and records the connect failure', async (t) => {
    const closed = await rawServer(() => {});
    const port = closed.port;
    await closed.close();
    const ignoring = await startProxy({ ignoreHosts: [/^127\.0\.0\.1$/] });
    t.after(() => ignoring.cleanup());
    const raw = netConnect({ host: '127.0.0.1', port: ignoring.proxyPort });
    t.after(() => raw.destroy());
    const reply = await exchange(raw, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 502 /);
    assert.match(reply, /\r\nX-Mitmscope-Error: MITM_ERR_UPSTREAM_CONNECT\r\n/i);
    assert.match(reply, /mitmscope: TCP connection to 127\.0\.0\.1:\d+ failed: connection refused\n$/);
    const flow = await flowWhere(ignoring, (f) => f.kind === 'tunnel' && f.port === port && f.state === 'error');
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_UPSTREAM_CONNECT', 'connect']);
  });

  test('a raw tunnel to an upstream that never completes the TCP handshake ends in 504 and a recorded timeout', { skip: requireTools('python3') }, async (t) => {
    const port = await blackholePort(t);
    const ignoring = await startProxy({ ignoreHosts: [/^127\.0\.0\.1$/], connectTimeout: 1000 });
    t.after(() => ignoring.cleanup());
    const raw = netConnect({ host: '127.0.0.1', port: ignoring.proxyPort });
    t.after(() => raw.destroy());
    const reply = await exchange(raw, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 504 /);
    assert.match(reply, /\r\nX-Mitmscope-Error: MITM_ERR_UPSTREAM_TIMEOUT\r\n/i);
    assert.match(reply, /mitmscope: TCP connection to 127\.0\.0\.1:\d+ timed out after 1000 ms\n$/);
    const flow = await flowWhere(ignoring, (f) => f.kind === 'tunnel' && f.port === port && f.state === 'error');
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_UPSTREAM_TIMEOUT', 'connect']);
  });

  test('an upstream that stalls mid-body is cut by the body timeout and the flow says so', async (t) => {
    const server = await startHttpsServer(ca.issue(['localhost']), (_req, res) => {
      res.writeHead(200, { 'Content-Length': '100000' });
      res.write('x'.repeat(100));
    });
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/stall`);
    assert.notEqual(r.code, 0, 'the client sees the transfer broken, not a short body');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_TIMEOUT');
    assert.equal(flow.error?.stage, 'upstream-response');
    assert.match(flow.error?.message ?? '', /sent no body data for 1000 ms/);
    await sentinel();
  });

  test('a reset mid-headers gets 502 saying the server reset before responding', async (t) => {
    const server = await rawServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Le');
        setImmediate(() => s.resetAndDestroy());
      });
    });
    t.after(() => server.close());
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '-w', '\n%{http_code}', `http://127.0.0.1:${server.port}/`]);
    const { body, status } = curlStatus(r);
    assert.equal(status, 502);
    assert.match(body, /reset the connection before sending a response/);
    await sentinel();
  });

  test('invalid HTTP from the server gets 502 saying so', async (t) => {
    const server = await rawServer((s) => s.once('data', () => s.end('HTTP/1.1 abc nonsense\r\n\r\n')));
    t.after(() => server.close());
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '-w', '\n%{http_code}', `http://127.0.0.1:${server.port}/`]);
    const { body, status } = curlStatus(r);
    assert.equal(status, 502);
    assert.match(body, /sent invalid HTTP/);
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_PROTOCOL');
    await sentinel();
  });

  test('a self-signed upstream certificate gets 502 naming the problem', async (t) => {
    const server = await startHttpsServer(selfSigned('localhost'), (_req, res) => res.end('no'));
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    const { body, status } = curlStatus(r);
    assert.equal(status, 502);
    assert.match(body, /TLS handshake with localhost:\d+ failed: self[- ]signed certificate/);
    await sentinel();
  });

  test('a server that asks for an optional client certificate is served, and its CertificateRequest is recorded', async (t) => {
    const server = await startHttpsServer(ca.issue(['localhost']), (_req, res) => res.end('served without a client certificate'), { requestCert: true, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).body, 'served without a client certificate');
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'complete');
    assert.ok(flow.serverConnection?.tls?.events.some((e) => e.type === 'CertificateRequest' && e.from === 'server'));
  });

  test('a server that requires a client certificate gets 502 that says so', async (t) => {
    const server = await startHttpsServer(ca.issue(['localhost']), (_req, res) => res.end('no'), { requestCert: true, rejectUnauthorized: true, ca: ca.certPem });
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    const { body, status } = curlStatus(r);
    assert.equal(status, 502);
    assert.match(body, /TLS handshake with localhost:\d+ failed: the server sent alert (certificate_required|handshake_failure)/);
    await sentinel();
  });

  test('a keep-alive connection the server dropped is retried once on a fresh connection for idempotent requests', async (t) => {
    const uses = new WeakMap<object, number>();
    const server = await startHttpsServer(ca.issue(['localhost']), (req, res) => {
      const n = (uses.get(req.socket) ?? 0) + 1;
      uses.set(req.socket, n);
      // The second request on a connection meets a server that already let it go.
      if (n >= 2) {
        req.socket.destroy();
        return;
      }
      res.end(`fresh ${req.url}`);
    });
    t.after(() => server.close());
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: await readFile(join(proxy.caDir, 'ca.pem'), 'utf8') });
    const first = await exchange(socket, `GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n`, /fresh \/one/);
    assert.match(first, /fresh \/one/);
    const r = await curl(proxy, `https://localhost:${server.port}/two`);
    assert.equal(curlStatus(r).body, 'fresh /two', r.stderr);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/two') && f.state !== 'pending');
    assert.match(flow.notes.join(' '), /retried on a fresh connection/);
    // A POST is not retried: the client gets the reset explained.
    const post = await curl(proxy, `https://localhost:${server.port}/three`, ['--data', 'x']);
    if (curlStatus(post).status === 502) assert.match(curlStatus(post).body, /reset the connection/);
    (socket as TLSSocket).destroy();
  });
});
