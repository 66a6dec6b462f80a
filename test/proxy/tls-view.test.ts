import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, run, startOpensslServer, startProxy, stopChild, tempDir, type TestProxy } from '../helpers/servers.js';
import type { Flow, HandshakeEvent } from '../../src/capture/flow.js';
import { requireTools } from '../helpers/tools.js';

/** Polls a condition (the key log is written asynchronously) for at most 10 s. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((r) => setImmediate(r));
  }
}

function ladder(events: HandshakeEvent[]): string[] {
  return events.filter((e) => e.type !== 'ApplicationData').map((e) => `${e.from}:${e.type}`);
}

function flowFor(proxy: TestProxy, port: number): Flow {
  const flow = proxy.store.list().find((f) => f.port === port && f.kind === 'http');
  assert.ok(flow, `a flow for port ${port}`);
  return flow;
}

describe('the TLS view of both legs, from the real bytes', { skip: requireTools('curl', 'openssl') }, () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], keylog: join(files.path, 'keys.log') });
  });
  after(async () => {
    await proxy.cleanup();
    await files.remove();
  });

  test('an RSA key exchange with openssl s_server shows every TLS 1.2 message in order on the server leg', async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'AES256-SHA', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, server.port).serverConnection?.tls;
    assert.ok(hs);
    const steps = ladder(hs.events).filter((s) => s !== 'server:NewSessionTicket');
    assert.deepEqual(steps, [
      'proxy:TCPConnect',
      'proxy:ClientHello',
      'server:ServerHello',
      'server:Certificate',
      'server:ServerHelloDone',
      'proxy:ClientKeyExchange',
      'proxy:ChangeCipherSpec',
      'proxy:Finished',
      'server:ChangeCipherSpec',
      'server:Finished',
    ]);
    assert.equal(hs.version, 'TLSv1.2');
    assert.deepEqual(hs.cipher, { id: 0x0035, name: 'TLS_RSA_WITH_AES_256_CBC_SHA', keyExchange: 'RSA', authentication: 'RSA', encryption: 'AES-256-CBC', mac: 'SHA-1' });
    const serverHello = hs.events.find((e) => e.type === 'ServerHello');
    assert.ok(serverHello && serverHello.t >= 0);
    // Times grow along the ladder.
    const times = hs.events.map((e) => e.t);
    assert.deepEqual([...times].sort((a, b) => a - b), times);
    assert.equal(hs.certificates[0]?.subject, 'CN=localhost');
    assert.ok(hs.certificates[0]?.sans.includes('DNS:localhost'));
  });

  test('an ECDHE suite shows a ServerKeyExchange that names the group', async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, server.port).serverConnection?.tls;
    assert.ok(hs);
    const ske = hs.events.find((e) => e.type === 'ServerKeyExchange');
    assert.ok(ske, 'a ServerKeyExchange event');
    assert.equal(ske.from, 'server');
    assert.match(String(ske.details['group']), /^(x25519|secp256r1|secp384r1|x448)$/);
    assert.equal(hs.cipher?.name, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    assert.equal(hs.cipher?.keyExchange, 'ECDHE');
    assert.equal(hs.group, ske.details['group']);
  });

  test("the client leg shows curl's SNI, offered suites, ALPN, JA3 and JA4", async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, server.port).clientConnection?.tls;
    assert.ok(hs);
    assert.equal(hs.sni, 'localhost');
    assert.ok(hs.offeredCiphers.length > 5, 'curl offers several suites');
    assert.ok(hs.alpnOffered.includes('http/1.1'));
    // The proxy prefers h2, which curl offers by default.
    assert.equal(hs.alpn, 'h2');
    assert.match(hs.ja3String ?? '', /^771,[\d-]+,[\d-]+,[\d-]*,[\d-]*$/);
    assert.match(hs.ja3 ?? '', /^[0-9a-f]{32}$/);
    assert.match(hs.ja4 ?? '', /^t13d\d{4}(h1|h2)_[0-9a-f]{12}_[0-9a-f]{12}$/);
    assert.equal(hs.events[0]?.type, 'TCPConnect');
    assert.equal(hs.events[1]?.type, 'ClientHello');
    assert.equal(hs.events[1]?.from, 'client');
    // Our leaf, minted for the SNI name, is what the client got.
    assert.equal(hs.certificates[0]?.subject.includes('CN=localhost'), true);
  });

  test('the key log holds a line for the client random of every ClientHello on both legs', async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'AES256-SHA', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const flow = flowFor(proxy, server.port);
    const randoms = [flow.clientConnection?.tls, flow.serverConnection?.tls].map((hs) => String(hs?.events.find((e) => e.type === 'ClientHello')?.details['random']));
    const log = await readFile(join(files.path, 'keys.log'), 'utf8');
    for (const random of randoms) {
      assert.match(random, /^[0-9a-f]{64}$/);
      assert.ok(new RegExp(`^(CLIENT_RANDOM|CLIENT_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0) ${random} [0-9a-f]+$`, 'mi').test(log), `key log has ${random}`);
    }
  });

  test('with the tap off (benchmark mode) exchanges still work and the TLS API fills the summary', async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'AES256-SHA', '-www']);
    t.after(() => server.close());
    const bare = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], observeTls: false });
    t.after(() => bare.cleanup());
    const r = await curl(bare, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const flow = flowFor(bare, server.port);
    assert.deepEqual(flow.clientConnection?.tls?.events.map((e) => e.type), ['TCPConnect', 'ClientHello']);
    assert.equal(flow.serverConnection?.tls?.cipher?.name, 'TLS_RSA_WITH_AES_256_CBC_SHA');
    assert.equal(flow.serverConnection?.tls?.version, 'TLSv1.2');
  });

  test('tshark decrypts a tcpdump loopback capture of the upstream leg with the key log', { skip: requireTools('tcpdump', 'tshark') }, async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'AES256-SHA', '-www']);
    t.after(() => server.close());
    const pcap = join(files.path, 'capture.pcap');
    // Immediate mode: without it packets wait in a kernel ring block and a stop can lose them.
    const capture = spawn('tcpdump', ['--immediate-mode', '-U', '-i', 'lo', '-w', pcap, `tcp port ${server.port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.after(() => stopChild(capture));
    const ready = await new Promise<boolean>((resolve) => {
      let err = '';
      capture.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/listening on/.test(err)) resolve(true);
      });
      capture.once('exit', () => resolve(false));
    });
    if (!ready) {
      t.skip('packet capture is not permitted on this machine; the key-log test above covers the lines');
      return;
    }
    const r = await curl(proxy, `https://localhost:${server.port}/decrypt-me`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const random = String(flowFor(proxy, server.port).serverConnection?.tls?.events.find((e) => e.type === 'ClientHello')?.details['random']);
    await waitFor(async () => (await readFile(join(files.path, 'keys.log'), 'utf8')).includes(random));
    capture.kill('SIGINT');
    await new Promise((resolve) => capture.once('exit', resolve));
    const decoded = await run('tshark', ['-r', pcap, '-o', `tls.keylog_file:${join(files.path, 'keys.log')}`, '-d', `tcp.port==${server.port},tls`, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.uri']);
    assert.match(decoded.stdout, /\/decrypt-me/);
  });
});
