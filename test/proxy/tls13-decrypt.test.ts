import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, startHttpsServer, startOpensslServer, startProxy, tempDir, type TestProxy } from '../helpers/servers.js';
import { exchange, tlsThroughProxy } from '../helpers/tunnel.js';
import type { Flow, HandshakeEvent } from '../../src/capture/flow.js';

/** The ladder from the ServerHello on, without application data and tickets (their count varies). */
function encryptedPart(events: HandshakeEvent[]): string[] {
  const start = events.findIndex((e) => e.type === 'ServerHello');
  return events
    .slice(start + 1)
    .filter((e) => e.type !== 'ApplicationData' && e.type !== 'NewSessionTicket' && e.type !== 'ChangeCipherSpec')
    .map((e) => `${e.from}:${e.type}`);
}

function flowFor(proxy: TestProxy, port: number): Flow {
  const flow = proxy.store.list().find((f) => f.port === port && f.kind === 'http');
  assert.ok(flow, `a flow for port ${port}`);
  return flow;
}

function event(events: HandshakeEvent[], from: string, type: string): HandshakeEvent {
  const e = events.find((x) => x.from === from && x.type === type);
  assert.ok(e, `${from}:${type} in ${events.map((x) => `${x.from}:${x.type}`).join(', ')}`);
  return e;
}

function colonSha256(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

describe('the encrypted part of TLS 1.3 handshakes, decrypted through the real proxy', () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let files: { path: string; remove(): Promise<void> };
  let caFile: string;

  before(async () => {
    files = await tempDir();
    caFile = join(files.path, 'test-ca.pem');
    await writeFile(caFile, ca.certPem);
  });
  after(async () => {
    await files.remove();
  });

  test('client leg: curl over TLS 1.3 sees our EncryptedExtensions, Certificate, CertificateVerify and both Finished', async (t) => {
    const proxy = await startProxy({ upstreamCa: [caFile] });
    t.after(() => proxy.cleanup());
    const upstream = await startHttpsServer(pair, (_req, res) => res.end('ok'));
    t.after(() => upstream.close());
    const r = await curl(proxy, `https://localhost:${upstream.port}/`, ['--tlsv1.3']);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, upstream.port).clientConnection?.tls;
    assert.ok(hs);
    assert.equal(hs.version, 'TLSv1.3');
    assert.deepEqual(encryptedPart(hs.events), ['proxy:EncryptedExtensions', 'proxy:Certificate', 'proxy:CertificateVerify', 'proxy:Finished', 'client:Finished']);
    assert.ok(!hs.events.some((e) => e.type === 'EncryptedHandshake'), 'no opaque rows are left');
    const afterHello = hs.events.slice(hs.events.findIndex((x) => x.type === 'ServerHello') + 1);
    // The middlebox-compatibility ChangeCipherSpec (RFC 8446 §D.4) is the one plaintext record left.
    for (const e of afterHello.filter((x) => x.type !== 'ChangeCipherSpec')) assert.equal(e.details['decrypted'], true, `${e.type} is marked decrypted`);
    // The proxy prefers h2, which curl offers.
    assert.equal(event(hs.events, 'proxy', 'EncryptedExtensions').details['alpn'], 'h2');
    // The chain in the decrypted Certificate is the leaf we minted, as the TLS API reports it.
    const certs = event(hs.events, 'proxy', 'Certificate').details['certificates'] as Array<{ subject: string; sha256: string; sans: string[] }>;
    assert.match(certs[0]!.subject, /CN=localhost/);
    assert.ok(certs[0]!.sans.includes('DNS:localhost'));
    assert.equal(certs[0]!.sha256, hs.certificates[0]?.sha256);
    assert.match(String(event(hs.events, 'proxy', 'CertificateVerify').details['signatureAlgorithm']), /^(rsa_pss_rsae_sha256|ecdsa_secp256r1_sha256|rsa_pss_rsae_sha384|ecdsa_secp384r1_sha384)$/);
    assert.equal(event(hs.events, 'client', 'Finished').details['verifyDataLength'], hs.cipher?.name === 'TLS_AES_256_GCM_SHA384' ? 48 : 32);
    // Tickets come after the client's Finished, under the application keys.
    const ticket = event(hs.events, 'proxy', 'NewSessionTicket');
    assert.equal(typeof ticket.details['lifetimeSeconds'], 'number');
    const times = hs.events.map((e) => e.t);
    assert.deepEqual([...times].sort((a, b) => a - b), times);
  });

  test('client leg with ChaCha20-Poly1305: the suite curl insists on is decrypted too', async (t) => {
    const proxy = await startProxy({ upstreamCa: [caFile] });
    t.after(() => proxy.cleanup());
    const upstream = await startHttpsServer(pair, (_req, res) => res.end('ok'));
    t.after(() => upstream.close());
    const r = await curl(proxy, `https://localhost:${upstream.port}/`, ['--tlsv1.3', '--tls13-ciphers', 'TLS_CHACHA20_POLY1305_SHA256']);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, upstream.port).clientConnection?.tls;
    assert.ok(hs);
    assert.equal(hs.cipher?.name, 'TLS_CHACHA20_POLY1305_SHA256');
    assert.deepEqual(encryptedPart(hs.events), ['proxy:EncryptedExtensions', 'proxy:Certificate', 'proxy:CertificateVerify', 'proxy:Finished', 'client:Finished']);
  });

  test('server leg with --upstream-tls 1.3: the server chain and its Finished are read from the wire', async (t) => {
    const proxy = await startProxy({ upstreamCa: [caFile], upstreamTls: '1.3' });
    t.after(() => proxy.cleanup());
    const upstream = await startHttpsServer(pair, (_req, res) => res.end('ok'));
    t.after(() => upstream.close());
    const r = await curl(proxy, `https://localhost:${upstream.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, upstream.port).serverConnection?.tls;
    assert.ok(hs);
    assert.equal(hs.version, 'TLSv1.3');
    assert.deepEqual(encryptedPart(hs.events), ['server:EncryptedExtensions', 'server:Certificate', 'server:CertificateVerify', 'server:Finished', 'proxy:Finished']);
    const certs = event(hs.events, 'server', 'Certificate').details['certificates'] as Array<{ subject: string; issuer: string; sha256: string }>;
    assert.equal(certs[0]!.sha256, colonSha256(pair.certPem));
    assert.equal(certs[0]!.issuer, new X509Certificate(ca.certPem).subject.replace(/\n/g, ', '));
    assert.equal(event(hs.events, 'server', 'EncryptedExtensions').details['decrypted'], true);
  });

  test('server leg against openssl with AES-256-GCM and a HelloRetryRequest: both named, the rest decrypted', async (t) => {
    const proxy = await startProxy({ upstreamCa: [caFile], upstreamTls: '1.3' });
    t.after(() => proxy.cleanup());
    // Node offers an x25519 key share first; a server that only takes P-384 must ask again.
    const server = await startOpensslServer(pair, ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384', '-groups', 'P-384', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, server.port).serverConnection?.tls;
    assert.ok(hs);
    assert.equal(hs.cipher?.name, 'TLS_AES_256_GCM_SHA384');
    const steps = hs.events.map((e) => `${e.from}:${e.type}`);
    assert.ok(steps.indexOf('server:HelloRetryRequest') < steps.indexOf('server:ServerHello'), steps.join(', '));
    assert.deepEqual(encryptedPart(hs.events), ['server:EncryptedExtensions', 'server:Certificate', 'server:CertificateVerify', 'server:Finished', 'proxy:Finished']);
    assert.equal(event(hs.events, 'server', 'Finished').details['verifyDataLength'], 48);
  });

  test('client leg: a resumed session is named as such and its decrypted ladder has no Certificate', async (t) => {
    const proxy = await startProxy({ upstreamCa: [caFile] });
    t.after(() => proxy.cleanup());
    const upstream = await startHttpsServer(pair, (_req, res) => res.end('ok'));
    t.after(() => upstream.close());
    const authority = `localhost:${upstream.port}`;
    const ca = await readFile(join(proxy.caDir, 'ca.pem'));
    const request = `GET / HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`;
    const first = await tlsThroughProxy(proxy.proxyPort, authority, { servername: 'localhost', ca, minVersion: 'TLSv1.3' });
    const ticket = new Promise<Buffer>((resolve) => first.once('session', resolve));
    await exchange(first, request);
    const session = await ticket;
    const second = await tlsThroughProxy(proxy.proxyPort, authority, { servername: 'localhost', ca, minVersion: 'TLSv1.3', session });
    const reused = second.isSessionReused();
    await exchange(second, request);
    assert.ok(reused, 'the proxy resumed the session from its ticket');
    const flows = proxy.store.list().filter((f) => f.port === upstream.port && f.kind === 'http');
    assert.equal(flows.length, 2);
    const hs = flows[1]!.clientConnection?.tls;
    assert.ok(hs);
    assert.equal(event(hs.events, 'proxy', 'ServerHello').details['resumed'], true);
    assert.deepEqual(encryptedPart(hs.events), ['proxy:EncryptedExtensions', 'proxy:Finished', 'client:Finished']);
  });

  test('the dashboard API serves the key log of a flow for Wireshark, and the HAR export carries the decrypted messages', async (t) => {
    const token = 'tls13-test-token-0123456789';
    const proxy = await startProxy({ upstreamCa: [caFile], upstreamTls: '1.3', ui: true, uiPort: 0, token });
    t.after(() => proxy.cleanup());
    const upstream = await startHttpsServer(pair, (_req, res) => res.end('ok'));
    t.after(() => upstream.close());
    const r = await curl(proxy, `https://localhost:${upstream.port}/`, ['--tlsv1.3']);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const flow = flowFor(proxy, upstream.port);
    const get = (path: string): Promise<Response> => fetch(`${proxy.dashboardUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });

    const keys = await get(`/api/flows/${flow.id}/keylog`);
    assert.equal(keys.status, 200);
    assert.match(keys.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await keys.text();
    for (const leg of [flow.clientConnection?.tls, flow.serverConnection?.tls]) {
      const random = String(leg?.events.find((e) => e.type === 'ClientHello')?.details['random']);
      for (const label of ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'SERVER_HANDSHAKE_TRAFFIC_SECRET', 'CLIENT_TRAFFIC_SECRET_0', 'SERVER_TRAFFIC_SECRET_0']) {
        assert.match(text, new RegExp(`^${label} ${random} [0-9a-f]{64,96}$`, 'm'), `${label} for ${random}`);
      }
    }
    const missing = await get('/api/flows/no-such-flow/keylog');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code?: string }).code, 'MITM_ERR_NOT_FOUND');

    const har = (await (await get('/api/har')).json()) as { log: { entries: Array<{ _tls?: { client: { events: HandshakeEvent[] }; server: { events: HandshakeEvent[] } } }> } };
    const tlsOf = har.log.entries.map((e) => e._tls).find((x) => x?.server.events.some((e) => e.type === 'EncryptedExtensions'));
    assert.ok(tlsOf, 'a HAR entry with the decrypted server leg');
    assert.equal(tlsOf.client.events.find((e) => e.type === 'CertificateVerify')?.details['decrypted'], true);
  });
});
