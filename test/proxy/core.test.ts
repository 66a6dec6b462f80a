import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect, type Socket, type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, run, startHttpsServer, startOpensslServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';
import { summarize } from '../../src/capture/flow.js';

describe('the core proxy', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  const localhostPair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let nodeServer: Listening;
  let seenProtocol: string | null = null;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    nodeServer = await startHttpsServer(localhostPair, (req, res) => {
      seenProtocol = (req.socket as TLSSocket).getProtocol();
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from node ${req.method} ${req.url}`);
    });
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], headersTimeout: 1500, connectTimeout: 3000 });
  });
  after(async () => {
    await proxy.cleanup();
    await nodeServer.close();
    await files.remove();
  });

  /** A request that must work after every failure case. */
  async function sentinel(): Promise<void> {
    const r = await curl(proxy, `https://localhost:${nodeServer.port}/sentinel`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(curlStatus(r).body, 'hello from node GET /sentinel');
  }

  test('curl trusting only the mitmscope CA gets the body of a Node HTTPS server, which saw TLS 1.2', async () => {
    const r = await curl(proxy, `https://localhost:${nodeServer.port}/path?q=1`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(curlStatus(r), { body: 'hello from node GET /path?q=1', status: 200 });
    assert.equal(seenProtocol, 'TLSv1.2');
  });

  test('curl gets the page of openssl s_server speaking TLS_RSA_WITH_AES_256_CBC_SHA over TLS 1.2', { skip: requireTools('openssl') }, async (t) => {
    const ossl = await startOpensslServer(localhostPair, ['-tls1_2', '-cipher', 'AES256-SHA', '-www']);
    t.after(() => ossl.close());
    const r = await curl(proxy, `https://localhost:${ossl.port}/`);
    assert.equal(r.code, 0, r.stderr);
    const { body, status } = curlStatus(r);
    assert.equal(status, 200);
    assert.match(body, /Protocol\s*:\s*TLSv1\.2/);
    assert.match(body, /Cipher\s*:\s*AES256-SHA\b/);
  });

  test('a CONNECT to an IP literal gets a leaf with an IP SAN that curl accepts', async () => {
    const r = await curl(proxy, `https://127.0.0.1:${nodeServer.port}/ip`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(curlStatus(r).body, 'hello from node GET /ip');
  });

  test('openssl s_client verifies a leaf for an unknown host before any upstream exists, then gets a 502 naming the DNS failure', { skip: requireTools('openssl') }, async () => {
    const r = await run(
      'openssl',
      ['s_client', '-proxy', `127.0.0.1:${proxy.proxyPort}`, '-connect', 'anything.test:443', '-servername', 'anything.test', '-CAfile', join(proxy.caDir, 'ca.pem'), '-verify_return_error', '-quiet', '-ign_eof'],
      { input: 'GET / HTTP/1.1\r\nHost: anything.test\r\nConnection: close\r\n\r\n' },
    );
    assert.match(r.stderr, /depth=0 CN ?= ?anything\.test/);
    assert.match(r.stderr, /verify return:1/);
    assert.match(r.stdout, /^HTTP\/1\.1 502 /);
    assert.match(r.stdout, /\r\nX-Mitmscope-Error: MITM_ERR_UPSTREAM_DNS\r\n/i);
    assert.match(r.stdout, /mitmscope: DNS lookup of anything\.test failed/);
    await sentinel();
  });

  test('a refused upstream gets 502 naming the host and the refusal, and the next request works', async () => {
    const closedPort = await freePort();
    const r = await curl(proxy, `https://localhost:${closedPort}/`);
    const { body, status } = curlStatus(r);
    assert.equal(status, 502);
    assert.equal(body, `mitmscope: TCP connection to localhost:${closedPort} failed: connection refused\n`);
    const flow = proxy.store.list().find((f) => f.port === closedPort);
    assert.deepEqual([flow?.error?.code, flow?.error?.stage], ['MITM_ERR_UPSTREAM_CONNECT', 'connect']);
    await sentinel();
  });

  test('an upstream that never answers gets 504 naming the stage', async (t) => {
    const silent = createServer((s) => s.on('data', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    t.after(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const port = (silent.address() as AddressInfo).port;
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '-w', '\n%{http_code}', `http://127.0.0.1:${port}/`]);
    const { body, status } = curlStatus(r);
    assert.equal(status, 504);
    assert.match(body, /^mitmscope: 127\.0\.0\.1:\d+ sent no response headers within 1500 ms/);
    const flow = proxy.store.list().find((f) => f.port === port);
    assert.deepEqual([flow?.error?.code, flow?.error?.stage], ['MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response']);
    await sentinel();
  });

  // `seen`: what the failed flow's server leg must show, read from that connection's bytes.
  const tlsFailures: { name: string; pair: () => KeyPair; host: string; expect: RegExp; seen: string; error: RegExp; version: string | null; serverOptions?: Record<string, unknown> }[] = [
    { name: 'an expired certificate', pair: () => ca.issue(['localhost'], { expired: true }), host: 'localhost', expect: /TLS handshake with localhost:\d+ failed: certificate has expired/, seen: 'server Certificate', error: /certificate has expired/, version: 'TLSv1.2' },
    { name: 'a certificate for another host', pair: () => ca.issue(['other.example']), host: 'localhost', expect: /TLS handshake with localhost:\d+ failed: Hostname\/IP does not match certificate's altnames/, seen: 'server Certificate', error: /does not match certificate's altnames/, version: 'TLSv1.2' },
    { name: 'a certificate from an untrusted CA', pair: () => new TestCa('untrusted').issue(['localhost']), host: 'localhost', expect: /TLS handshake with localhost:\d+ failed: unable to verify the first certificate/, seen: 'server Certificate', error: /unable to verify the first certificate/, version: 'TLSv1.2' },
    { name: 'no cipher in common', pair: () => localhostPair, host: 'localhost', expect: /TLS handshake with localhost:\d+ failed: the server sent alert handshake_failure/, seen: 'server Alert', error: /server sent alert handshake_failure/, version: null, serverOptions: { ciphers: 'CAMELLIA256-SHA', maxVersion: 'TLSv1.2' } },
  ];
  for (const c of tlsFailures) {
    test(`${c.name} upstream gets 502 explaining the TLS failure`, async (t) => {
      const server = await startHttpsServer(c.pair(), (_req, res) => res.end('should not be reached'), c.serverOptions ?? {});
      t.after(() => server.close());
      const r = await curl(proxy, `https://${c.host}:${server.port}/`);
      const { body, status } = curlStatus(r);
      assert.equal(status, 502, r.stderr);
      assert.match(body, c.expect);
      const flow = proxy.store.list().find((f) => f.port === server.port && f.state === 'error');
      assert.equal(flow?.error?.code, 'MITM_ERR_UPSTREAM_TLS');
      assert.equal(flow?.error?.stage, 'upstream-tls');
      // The failed flow keeps the server leg: what we offered, what the server answered, the error.
      const tls = flow?.serverConnection?.tls;
      const ladder = (tls?.events ?? []).map((e) => `${e.from} ${e.type}`);
      assert.deepEqual(ladder.slice(0, 2), ['proxy TCPConnect', 'proxy ClientHello'], ladder.join(', '));
      assert.ok(ladder.includes(c.seen), `${c.seen} in ${ladder.join(', ')}`);
      assert.equal(ladder.at(-1), 'server Error', ladder.join(', '));
      assert.match(tls?.error ?? '', c.error);
      assert.equal(flow?.serverIPAddress, flow?.serverConnection?.address);
      // The list shows the server leg's version, or none if the server never chose one.
      const summary = summarize(flow!);
      assert.deepEqual([summary.tlsVersion, summary.tlsLeg], [c.version, c.version ? 'server' : null]);
      await proxy.store.flushed();
      const stored = proxy.store.newest(50).find((f) => f.id === flow?.id);
      assert.deepEqual([stored?.tlsVersion, stored?.tlsLeg], [c.version, c.version ? 'server' : null], 'summaries read back from the session agree');
      await sentinel();
    });
  }

  test('a server that refuses TLS 1.2 and then the retry\'s connection gets 502, and the flow keeps both attempts', async (t) => {
    // It answers the first ClientHello with a fatal protocol_version alert and stops listening.
    const refusing = createServer((socket) => {
      refusing.close();
      socket.on('error', () => {});
      socket.once('data', () => socket.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])));
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const port = (refusing.address() as AddressInfo).port;
    t.after(() => refusing.close());
    const r = await curl(proxy, `https://127.0.0.1:${port}/`);
    const { body, status } = curlStatus(r);
    assert.equal(status, 502, r.stderr);
    assert.match(body, new RegExp(`127\\.0\\.0\\.1:${port}`));
    const flow = proxy.store.list().find((f) => f.port === port && f.state === 'error');
    const tls = flow?.serverConnection?.tls;
    assert.match(tls?.fallback ?? '', /refused TLS 1\.2.*retried with TLS 1\.3/);
    const ladder = (tls?.events ?? []).map((e) => `${e.from} ${e.type}`);
    assert.deepEqual(ladder, ['proxy TCPConnect', 'proxy ClientHello', 'server Alert', 'proxy Fallback', 'proxy Error']);
    assert.match(tls?.error ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
    await sentinel();
  });

  test('a TLS 1.3-only upstream is retried with TLS 1.3 and the fallback is recorded', async (t) => {
    const server = await startHttpsServer(localhostPair, (req, res) => res.end((req.socket as TLSSocket).getProtocol() ?? ''), { minVersion: 'TLSv1.3' });
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.deepEqual(curlStatus(r), { body: 'TLSv1.3', status: 200 });
    const flow = proxy.store.list().find((f) => f.port === server.port && f.state === 'complete');
    const tls = flow?.serverConnection?.tls;
    assert.match(tls?.fallback ?? '', /refused TLS 1\.2.*retried with TLS 1\.3/);
    // Both attempts are on the ladder, each read from its own bytes: the refused one up to the
    // server's alert, then the note, then the retried handshake decrypted from its key log.
    const ladder = (tls?.events ?? []).map((e) => `${e.from} ${e.type}`);
    const fallbackAt = ladder.indexOf('proxy Fallback');
    assert.deepEqual(ladder.slice(0, fallbackAt + 1), ['proxy TCPConnect', 'proxy ClientHello', 'server Alert', 'proxy Fallback'], ladder.join(', '));
    assert.equal(tls?.events[2]?.details['description'], 'protocol_version');
    assert.deepEqual(ladder.slice(fallbackAt + 1, fallbackAt + 4), ['proxy TCPConnect', 'proxy ClientHello', 'server ServerHello'], ladder.join(', '));
    assert.equal(tls?.events[fallbackAt + 3]?.details['version'], 'TLSv1.3');
    for (const decrypted of ['server EncryptedExtensions', 'server Certificate', 'server CertificateVerify', 'server Finished', 'proxy Finished']) {
      assert.ok(ladder.indexOf(decrypted) > fallbackAt, `${decrypted} after the fallback: ${ladder.join(', ')}`);
    }
    // The connection was made: the refused attempt is not the handshake's error.
    assert.deepEqual([tls?.error, tls?.version], [null, 'TLSv1.3']);
  });

  test('a malformed request gets 400 with the reason, and the proxy keeps serving', async () => {
    const reply = await rawExchange(proxy.proxyPort, 'GARBAGE\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
    assert.match(reply, /\r\nX-Mitmscope-Error: MITM_ERR_BAD_REQUEST\r\n/i);
    await sentinel();
  });

  test('a request for the proxy itself gets an explanation instead of a loop', async () => {
    const reply = await rawExchange(proxy.proxyPort, `GET http://127.0.0.1:${proxy.proxyPort}/ HTTP/1.1\r\nHost: 127.0.0.1:${proxy.proxyPort}\r\nConnection: close\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, /not a web server: point your browser or tool at it as a proxy/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Writes raw bytes to the proxy and collects everything until it closes. */
export function rawExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(data));
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}
