import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, startHttpsServer, startOpensslServer, startProxyTrusting, type TestProxy } from '../helpers/servers.js';
import type { Flow, HandshakeEvent } from '../../src/capture/flow.js';

function flowFor(proxy: TestProxy, port: number): Flow {
  const flow = proxy.store.list().find((f) => f.port === port && f.kind === 'http');
  assert.ok(flow, `a flow for port ${port}`);
  return flow;
}

function finished(events: HandshakeEvent[], from: string): Record<string, unknown> {
  const e = events.filter((x) => x.type === 'Finished' && x.from === from);
  assert.equal(e.length, 1, `one Finished from ${from}: ${events.map((x) => `${x.from}:${x.type}`).join(', ')}`);
  return e[0]!.details;
}

describe('TLS 1.2 Finished messages decrypted and verified through the real proxy', () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let proxy: TestProxy;

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem);
  });
  after(() => proxy.cleanup());

  for (const etm of [true, false]) {
    test(`openssl s_server AES256-SHA (RSA key exchange, ${etm ? 'encrypt-then-MAC' : 'MAC-then-encrypt'}): both Finished verified, key block 2×20 + 2×32`, async (t) => {
      const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'AES256-SHA', '-www', ...(etm ? [] : ['-no_etm'])]);
      t.after(() => server.close());
      const r = await curl(proxy, `https://localhost:${server.port}/`);
      assert.equal(curlStatus(r).status, 200, r.stderr);
      const hs = flowFor(proxy, server.port).serverConnection?.tls;
      assert.ok(hs);
      assert.equal(hs.cipher?.name, 'TLS_RSA_WITH_AES_256_CBC_SHA');
      for (const from of ['proxy', 'server']) {
        const d = finished(hs.events, from);
        assert.equal(d['decrypted'], true);
        assert.equal(d['verified'], true, String(d['reason']));
        assert.equal(d['prfHash'], 'SHA-256');
        assert.equal(d['encryptThenMac'], etm);
        assert.deepEqual(d['keyBlock'], { length: 104, macKeyLength: 20, keyLength: 32, fixedIvLength: 0, recordIvLength: 16 });
      }
      assert.equal(hs.events.find((e) => e.type === 'ServerHello')?.details['encryptThenMac'], etm);
      // The RSA key exchange: the encrypted pre-master secret is as long as the 2048-bit modulus.
      assert.equal(hs.events.find((e) => e.type === 'ClientKeyExchange')?.details['encryptedPreMasterLength'], 256);
    });
  }

  test('ECDHE with AES-256-GCM-SHA384: the PRF runs on SHA-384 and both Finished verify', async (t) => {
    const server = await startOpensslServer(pair, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/`);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, server.port).serverConnection?.tls;
    assert.ok(hs);
    for (const from of ['proxy', 'server']) {
      const d = finished(hs.events, from);
      assert.equal(d['verified'], true, String(d['reason']));
      assert.equal(d['prfHash'], 'SHA-384');
      assert.deepEqual(d['keyBlock'], { length: 72, macKeyLength: 0, keyLength: 32, fixedIvLength: 4, recordIvLength: 8 });
    }
  });

  test('client leg: curl limited to TLS 1.2 gets its Finished and ours verified', async (t) => {
    const upstream = await startHttpsServer(pair, (_req, res) => res.end('ok'));
    t.after(() => upstream.close());
    const r = await curl(proxy, `https://localhost:${upstream.port}/`, ['--tlsv1.2', '--tls-max', '1.2']);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const hs = flowFor(proxy, upstream.port).clientConnection?.tls;
    assert.ok(hs);
    assert.equal(hs.version, 'TLSv1.2');
    for (const from of ['client', 'proxy']) assert.equal(finished(hs.events, from)['verified'], true);
  });
});
