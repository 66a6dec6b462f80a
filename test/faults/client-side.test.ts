import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import http from 'node:http';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { TestCa } from '../helpers/pki.js';
import { curl, curlStatus, run, startHttpServer, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { connectTunnel, exchange, tlsThroughProxy } from '../helpers/tunnel.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';


/** A Duplex over a socket that writes one byte per write, so TLS records arrive dribbled. */
class Dribble extends Duplex {
  constructor(private readonly raw: Socket) {
    super();
    raw.on('data', (d: Buffer) => this.push(d));
    raw.on('end', () => this.push(null));
    raw.on('close', () => this.destroy());
    raw.resume();
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let i = 0;
    const next = (): void => {
      if (i >= chunk.length) return cb();
      this.raw.write(chunk.subarray(i, i + 1));
      i += 1;
      setImmediate(next);
    };
    next();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.raw.destroy();
    cb(err);
  }
}

describe('hostile and unusual clients', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let server: Listening;
  let server6: Listening | null = null;
  let plain: Listening;
  let echo: Server;
  let echoPort = 0;
  let caPem = '';

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    const handler: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/trailers') {
          res.writeHead(200, { 'Transfer-Encoding': 'chunked', Trailer: 'X-Checksum' });
          res.write('part');
          res.addTrailers({ 'X-Checksum': 'abc123' });
          res.end();
          return;
        }
        if (req.url === '/slow-body') {
          res.writeHead(200, { 'Content-Length': '2000000' });
          res.write(Buffer.alloc(1000));
          return;
        }
        res.end(`ok ${req.method} ${req.url} ${Buffer.concat(chunks).length}${req.rawTrailers.length ? ` trailers=${req.rawTrailers.join(':')}` : ''}`);
      });
    };
    server = await startHttpsServer(ca.issue(['localhost', '127.0.0.1', '::1']), handler);
    plain = await startHttpServer(handler);
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    echoPort = (echo.address() as AddressInfo).port;
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], clientHeadersTimeout: 1000 });
    caPem = await import('node:fs/promises').then((fs) => fs.readFile(join(proxy.caDir, 'ca.pem'), 'utf8'));
  });
  after(async () => {
    await proxy.cleanup();
    await server.close();
    await server6?.close();
    await plain.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
    await files.remove();
  });

  async function sentinel(): Promise<void> {
    const r = await curl(proxy, `https://localhost:${server.port}/sentinel`);
    assert.equal(curlStatus(r).body, 'ok GET /sentinel 0', r.stderr);
  }

  test('garbage after CONNECT is relayed untouched to the target and recorded as a tunnel', async () => {
    const socket = await connectTunnel(proxy.proxyPort, `127.0.0.1:${echoPort}`);
    const reply = await exchange(socket, '\x01\x02garbage bytes\xff', /garbage bytes/);
    assert.match(reply, /\x01\x02garbage bytes/);
    const flow = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === echoPort);
    assert.match(flow.notes.join(' '), /not TLS or HTTP/);
    await sentinel();
  });

  test('a broken ClientHello gets a decode_error alert and a tls-failure flow', async () => {
    const socket = await connectTunnel(proxy.proxyPort, 'broken.test:443');
    // A complete handshake record holding a ClientHello whose body is four bytes of nonsense.
    const reply = await exchange(socket, Buffer.from('160301000801000004deadbeef', 'hex'));
    assert.equal(Buffer.from(reply, 'latin1').toString('hex'), '15030300020232');
    const flow = await flowWhere(proxy, (f) => f.kind === 'tls-failure' && f.host === 'broken.test');
    assert.equal(flow.error?.code, 'MITM_ERR_TLS_PARSE');
    await sentinel();
  });

  test('a ClientHello that never completes is recorded when the header timeout passes', async () => {
    const socket = await connectTunnel(proxy.proxyPort, 'stalled.test:443');
    // A ClientHello announcing 65535 bytes, of which only a few ever arrive.
    const reply = await exchange(socket, Buffer.from('16030100080100ffff03030000', 'hex'));
    assert.equal(Buffer.from(reply, 'latin1').toString('hex'), '15030300020232');
    const flow = await flowWhere(proxy, (f) => f.kind === 'tls-failure' && f.host === 'stalled.test');
    assert.match(flow.error?.message ?? '', /incomplete ClientHello/);
    await sentinel();
  });

  test('an SSLv2-style hello is refused with an explanation in the flow', async () => {
    const socket = await connectTunnel(proxy.proxyPort, 'sslv2.test:443');
    // SSLv2 CLIENT-HELLO: 2-byte header with the high bit set, msg type 1.
    await exchange(socket, Buffer.from('802e0100020015000000100100800200800300800400800500800600400700c0', 'hex'));
    const flow = await flowWhere(proxy, (f) => f.host === 'sslv2.test');
    assert.equal(flow.kind, 'tls-failure');
    assert.equal(flow.error?.code, 'MITM_ERR_TLS_PARSE');
    assert.match(flow.error?.message ?? '', /SSLv2-compatible ClientHello is not supported/);
    await sentinel();
  });

  test('a ClientHello dribbled one byte per write is intercepted normally', async () => {
    const raw = await connectTunnel(proxy.proxyPort, `localhost:${server.port}`);
    const socket = tls.connect({ socket: new Dribble(raw) as unknown as Socket, servername: 'localhost', ca: caPem });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const reply = await exchange(socket, 'GET /dribble HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.match(reply, /ok GET \/dribble 0$/);
    await sentinel();
  });

  test('a TLS 1.0-only client is refused and the flow says why', async () => {
    await assert.rejects(
      tlsThroughProxy(proxy.proxyPort, 'old.test:443', { servername: 'old.test', ca: caPem, maxVersion: 'TLSv1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    );
    const flow = await flowWhere(proxy, (f) => f.kind === 'tls-failure' && f.host === 'old.test');
    assert.equal(flow.error?.stage, 'client-tls');
    assert.match(flow.error?.message ?? '', /protocol|version/i);
    await sentinel();
  });

  test('a client without SNI gets a leaf for the CONNECT host', { skip: requireTools('openssl') }, async () => {
    const r = await run('openssl', ['s_client', '-proxy', `127.0.0.1:${proxy.proxyPort}`, '-connect', `localhost:${server.port}`, '-noservername', '-CAfile', join(proxy.caDir, 'ca.pem'), '-verify_return_error', '-verify_hostname', 'localhost', '-quiet', '-ign_eof'], {
      input: 'GET /nosni HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    });
    assert.match(r.stdout, /ok GET \/nosni 0/);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/nosni'));
    assert.equal(flow.clientConnection?.tls?.sni, null);
    await sentinel();
  });

  test('IPv4 and IPv6 literal hosts get IP SANs and reach the server', async (t) => {
    const v4 = await curl(proxy, `https://127.0.0.1:${server.port}/v4`);
    assert.equal(curlStatus(v4).body, 'ok GET /v4 0', v4.stderr);
    const s6 = await new Promise<Listening | null>((resolve) => {
      const srv = http.createServer((_req, res) => res.end('ok v6'));
      srv.once('error', () => resolve(null));
      srv.listen(0, '::1', () => resolve({ port: (srv.address() as AddressInfo).port, close: () => new Promise((r) => srv.close(() => r())) }));
    });
    if (!s6) {
      t.diagnostic('no IPv6 loopback here: the v6 half is not run');
      return;
    }
    server6 = s6;
    const v6 = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '-w', '\n%{http_code}', `http://[::1]:${s6.port}/`]);
    assert.equal(curlStatus(v6).body, 'ok v6', v6.stderr);
    const tlsV6 = await tlsThroughProxy(proxy.proxyPort, `[::1]:${server.port}`, { ca: caPem, host: '::1' });
    assert.match(tlsV6.getPeerX509Certificate()?.subjectAltName ?? '', /IP Address:0:0:0:0:0:0:0:1|IP Address:::1/);
    tlsV6.destroy();
  });

  test('an IDN host gets a punycode leaf and a 502 that names it', async () => {
    const socket = await tlsThroughProxy(proxy.proxyPort, 'xn--bcher-kva.test:443', { servername: 'xn--bcher-kva.test', ca: caPem });
    assert.match(socket.getPeerX509Certificate()?.subjectAltName ?? '', /DNS:xn--bcher-kva\.test/);
    const reply = await exchange(socket, 'GET / HTTP/1.1\r\nHost: xn--bcher-kva.test\r\nConnection: close\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 502/);
    assert.match(reply, /DNS lookup of xn--bcher-kva\.test failed/);
    await sentinel();
  });

  test('a client that closes mid-handshake leaves a tls-failure flow', async () => {
    const socket = await connectTunnel(proxy.proxyPort, 'midhandshake.test:443');
    const hello = await new Promise<Buffer>((resolve) => {
      const probe = tls.connect({ socket: new (class extends Duplex {
        override _read(): void {}
        override _write(chunk: Buffer): void {
          resolve(chunk);
        }
      })() as unknown as Socket, servername: 'midhandshake.test' });
      probe.on('error', () => {});
    });
    socket.write(hello);
    socket.once('data', () => socket.destroy());
    socket.resume();
    const flow = await flowWhere(proxy, (f) => f.host === 'midhandshake.test');
    assert.equal(flow.kind, 'tls-failure');
    await sentinel();
  });

  test('a client that closes mid-upload leaves an aborted flow', async () => {
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
    socket.write('POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n' + 'a'.repeat(1000));
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/upload') && f.request.bodySize >= 1000);
    socket.destroy();
    await flowWhere(proxy, (f) => f.id === flow.id && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_CLIENT_ABORTED');
    await sentinel();
  });

  test('a client that closes mid-download leaves an aborted flow', async () => {
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
    socket.write('GET /slow-body HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    socket.destroy();
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/slow-body') && f.state === 'error');
    assert.equal(flow.error?.code, 'MITM_ERR_CLIENT_ABORTED');
    assert.equal(flow.error?.stage, 'client-response');
    await sentinel();
  });

  test('pipelined requests are answered in order', async () => {
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
    const reply = await exchange(
      socket,
      'GET /p1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /p2 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /p3 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    const bodies = [...reply.matchAll(/ok GET (\/p\d)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ['/p1', '/p2', '/p3']);
  });

  test('Expect: 100-continue uploads go through', async () => {
    const r = await curl(proxy, `https://localhost:${server.port}/expect`, ['-H', 'Expect: 100-continue', '--data-binary', 'x'.repeat(5000)]);
    assert.equal(curlStatus(r).body, 'ok POST /expect 5000', r.stderr);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/expect') && f.state !== 'pending');
    assert.equal(flow.state, 'complete');
    assert.equal(flow.request.bodySize, 5000);
  });

  test('chunked bodies with trailers are forwarded and their trailers recorded', async () => {
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
    const reply = await exchange(socket, 'POST /chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n');
    assert.match(reply, /ok POST \/chunked 5/);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/chunked') && f.state !== 'pending');
    assert.deepEqual(flow.request.trailers, [['X-Sum', '42']]);
    const r = await curl(proxy, `https://localhost:${server.port}/trailers`);
    assert.equal(curlStatus(r).body, 'part');
    const tflow = await flowWhere(proxy, (f) => f.request.url.endsWith('/trailers') && f.state !== 'pending');
    assert.deepEqual(tflow.response?.trailers, [['X-Checksum', 'abc123']]);
  });

  test('conflicting Content-Length and Transfer-Encoding (smuggling) is rejected with 400', async () => {
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
    const reply = await exchange(socket, 'POST /smuggle HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
    assert.match(reply, /\r\nX-Mitmscope-Error: MITM_ERR_BAD_REQUEST\r\n/i);
    assert.ok(!proxy.store.list().some((f) => f.request.url.endsWith('/admin')), 'the smuggled request never reached the server');
    await sentinel();
  });

  test('headers over the size limit get 431', async () => {
    const r = await curl(proxy, `https://localhost:${server.port}/huge`, ['-H', `X-Huge: ${'h'.repeat(20_000)}`]);
    assert.equal(curlStatus(r).status, 431);
    const refused = proxy.store.list().filter((f) => f.error?.code === 'MITM_ERR_HEADERS_TOO_LARGE');
    assert.deepEqual(refused.map((f) => f.response?.status), [431]);
    await sentinel();
  });

  test('a slowloris client is closed by the header timeout while others are served', async () => {
    const slow = netConnect({ host: '127.0.0.1', port: proxy.proxyPort });
    let closed = false;
    let reply = '';
    slow.on('data', (d: Buffer) => (reply += d.toString()));
    const done = new Promise<void>((resolve) => slow.once('close', () => {
      closed = true;
      resolve();
    }));
    slow.on('error', () => {});
    const line = 'GET http://127.0.0.1:1/ HTTP/1.1\r\nX-Slow: ';
    let i = 0;
    const timer = setInterval(() => {
      if (i < line.length && !slow.destroyed) slow.write(line[i++]!);
    }, 50);
    try {
      await sentinel();
      assert.equal(closed, false, 'the slow client is still connected while others are served');
      await done;
      assert.match(reply, /^HTTP\/1\.1 408/);
      assert.match(reply, /\r\nX-Mitmscope-Error: MITM_ERR_CLIENT_TIMEOUT\r\n/i);
    } finally {
      clearInterval(timer);
      slow.destroy();
    }
  });

  test('CONNECT to a port that speaks plain HTTP is proxied as HTTP', async () => {
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--proxytunnel', '-w', '\n%{http_code}', `http://127.0.0.1:${plain.port}/tunnelled`]);
    assert.equal(curlStatus(r).body, 'ok GET /tunnelled 0', r.stderr);
    const flow = await flowWhere(proxy, (f) => f.request.url === `http://127.0.0.1:${plain.port}/tunnelled`);
    assert.equal(flow.scheme, 'http');
  });
});
