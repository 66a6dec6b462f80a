import { test, describe } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { emptyHandshake, type Handshake } from '../../src/capture/flow.js';
import { HandshakeTap } from '../../src/tls/tap.js';
import { loadFixture, loadKeylog, type FixtureName } from '../fixtures/tls/helpers.js';

/**
 * Replays a recorded conversation as the proxy's server leg sees it (we are the TLS client:
 * c2s is what we write), handing over the key log once the server's first flight was seen —
 * the order OpenSSL logs them in, after it read the ServerHello.
 */
function replay(name: FixtureName, options: { keylog: boolean; deferred?: boolean }): { hs: Handshake; tap: HandshakeTap } {
  const hs = emptyHandshake();
  const tap = new HandshakeTap(hs, 'server', 0, null, { deferred: options.deferred === true });
  let given = false;
  loadFixture(name).forEach((chunk, i) => {
    tap.observe(chunk.dir === 'c2s' ? 'out' : 'in', chunk.bytes, i + 1);
    if (options.keylog && !given && chunk.dir === 's2c') {
      given = true;
      for (const line of loadKeylog(name)) tap.keylog(line);
    }
  });
  return { hs, tap };
}

const ladder = (hs: Handshake): string[] => hs.events.map((e) => `${e.from}:${e.type}`);

describe('the tap decrypts recorded conversations with their key logs', () => {
  test('Node ↔ openssl TLS 1.3: the whole encrypted flight, the tickets and the first data of each side', () => {
    const { hs, tap } = replay('node-tls13-keylog', { keylog: true });
    assert.deepEqual(ladder(hs), [
      'proxy:ClientHello',
      'server:ServerHello',
      'server:ChangeCipherSpec',
      'server:EncryptedExtensions',
      'server:Certificate',
      'server:CertificateVerify',
      'server:Finished',
      'proxy:ChangeCipherSpec',
      'proxy:Finished',
      'proxy:ApplicationData',
      'server:NewSessionTicket',
      'server:NewSessionTicket',
      'server:ApplicationData',
    ]);
    const cert = hs.events.find((e) => e.type === 'Certificate')!;
    assert.equal(cert.details['decrypted'], true);
    assert.equal(hs.certificates[0]?.subject, 'CN=localhost');
    assert.equal(hs.alpn, 'http/1.1');
    // Times follow the records, not the moment their key arrived.
    const times = hs.events.map((e) => e.t);
    assert.deepEqual([...times].sort((a, b) => a - b), times);
    assert.equal(tap.done, true, 'both sides reached application data: the tap stops and the secrets are gone');
  });

  test('Node ↔ openssl TLS 1.2 ECDHE-RSA-AES128-GCM: both Finished decrypted and verified', () => {
    const { hs } = replay('node-ecdhe-tls12-keylog', { keylog: true });
    const finished = hs.events.filter((e) => e.type === 'Finished');
    assert.deepEqual(finished.map((e) => [e.from, e.details['verified'], e.details['prfHash']]), [
      ['proxy', true, 'SHA-256'],
      ['server', true, 'SHA-256'],
    ]);
    assert.deepEqual(finished[0]!.details['keyBlock'], { length: 40, macKeyLength: 0, keyLength: 16, fixedIvLength: 4, recordIvLength: 8 });
  });

  test('without a key log the parser rows come back when the connection ends, with the reason', () => {
    const { hs, tap } = replay('node-tls13-keylog', { keylog: false });
    assert.ok(!hs.events.some((e) => e.type === 'EncryptedHandshake'), 'held while a secret may still come');
    tap.finish('the connection closed');
    const opaque = hs.events.filter((e) => e.type === 'EncryptedHandshake');
    assert.ok(opaque.length > 0);
    for (const e of opaque) assert.match(String(e.details['reason']), /SERVER_HANDSHAKE_TRAFFIC_SECRET was not logged/);
    assert.ok(hs.events.some((e) => e.type === 'ApplicationData'), "the parser's reading of later records is kept");
    const times = hs.events.map((e) => e.t);
    assert.deepEqual([...times].sort((a, b) => a - b), times);
  });
});

describe('a deferred tap parses after the bytes have moved on', () => {
  test('nothing is parsed while the I/O at hand runs; a turn later the ladder is the one parsed at once', async () => {
    const now = replay('node-tls13-keylog', { keylog: true });
    const live: string[] = [];
    const hs = emptyHandshake();
    const tap = new HandshakeTap(hs, 'server', 0, (e) => live.push(`${e.from}:${e.type}`), { deferred: true });
    let given = false;
    loadFixture('node-tls13-keylog').forEach((chunk, i) => {
      tap.observe(chunk.dir === 'c2s' ? 'out' : 'in', chunk.bytes, i + 1);
      if (!given && chunk.dir === 's2c') {
        given = true;
        for (const line of loadKeylog('node-tls13-keylog')) tap.keylog(line);
      }
    });
    assert.equal(hs.events.length, 0, 'bytes and key log lines wait, in order');
    await nextTurn();
    assert.deepEqual(ladder(hs), ladder(now.hs));
    assert.deepEqual(hs.events.map((e) => e.t), now.hs.events.map((e) => e.t), 'times are those the bytes passed at');
    assert.deepEqual(live, ladder(now.hs), 'listeners hear every event once');
    assert.equal(hs.certificates[0]?.subject, 'CN=localhost');
    assert.equal(tap.done, true);
  });

  test('finish, fail and flush parse what is waiting first', () => {
    const { hs, tap } = replay('node-tls13-keylog', { keylog: false, deferred: true });
    assert.equal(hs.events.length, 0);
    tap.finish('the connection closed');
    assert.equal(hs.events[0]?.type, 'ClientHello');
    assert.ok(hs.events.some((e) => e.type === 'EncryptedHandshake' && /SERVER_HANDSHAKE_TRAFFIC_SECRET was not logged/.test(String(e.details['reason']))));

    const failed = replay('openssl-alert-tls12', { keylog: false, deferred: true });
    failed.tap.fail('the server refused', 'server');
    assert.deepEqual(ladder(failed.hs).slice(-2), ['server:Alert', 'server:Error'], 'the alert on the wire comes before the failure it caused');

    const flushed = replay('node-ecdhe-tls12-keylog', { keylog: true, deferred: true });
    flushed.tap.flush();
    assert.deepEqual(flushed.hs.events.filter((e) => e.type === 'Finished').map((e) => e.details['verified']), [true, true]);
  });
});

