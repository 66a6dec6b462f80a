import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TlsConnectionParser, MAX_HANDSHAKE_MESSAGE, MAX_MESSAGES, MAX_RECORD_LENGTH, parseClientHello, peekClientHello, type TlsMessage, type TlsSender } from '../../src/tls/records.js';
import {
  FIXTURE_NAMES,
  clientHelloBody,
  ext,
  handshake,
  loadFixture,
  rechunk,
  record,
  replay,
  stream,
  summary,
  u16,
  u24,
  u8,
  vec,
} from '../fixtures/tls/helpers.js';

const HANDSHAKE = 22;
const ALERT = 21;
const CCS = 20;
const APP = 23;

function find(messages: readonly TlsMessage[], type: string, nth = 0): Record<string, unknown> {
  const found = messages.filter((m) => m.type === type)[nth];
  assert.ok(found, `no ${type} #${nth}`);
  return found.details;
}

/** A minimal TLS 1.2 ServerHello choosing `suite`, as a record. */
function serverHello(suite: number, extensions: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.concat([u16(0x0303), Buffer.alloc(32, 0x22), vec(1), u16(suite), u8(0), ...(extensions.length ? [vec(2, extensions)] : [])]);
  return record(HANDSHAKE, handshake(2, body));
}

const simpleHello = record(HANDSHAKE, handshake(1, clientHelloBody({ ciphers: [0x0035], extensions: [ext.sni('example.com')] })), 0x0301);

describe('a recorded TLS 1.2 handshake with RSA key exchange (curl ↔ s_server -cipher AES256-SHA)', () => {
  const messages = replay(loadFixture('curl-rsa-tls12'));

  test('gives the RFC 5246 message sequence in order, then the first application data of each side', () => {
    assert.deepEqual(summary(messages), [
      'c2s ClientHello',
      's2c ServerHello',
      's2c Certificate',
      's2c ServerHelloDone',
      'c2s ClientKeyExchange',
      'c2s ChangeCipherSpec',
      'c2s Finished',
      's2c ChangeCipherSpec',
      's2c Finished',
      'c2s ApplicationData',
      's2c ApplicationData',
    ]);
  });

  test("reads curl's hello: SNI, ALPN, suites with names, groups and signature algorithms", () => {
    const hello = find(messages, 'ClientHello');
    assert.equal(hello['sni'], 'localhost');
    assert.deepEqual(hello['alpn'], ['h2', 'http/1.1']);
    assert.equal(hello['legacyVersionName'], 'TLSv1.2');
    const suites = hello['cipherSuites'] as number[];
    const names = hello['cipherSuiteNames'] as string[];
    assert.equal(suites.length, names.length);
    assert.ok(suites.includes(0xc02f));
    assert.equal(names[suites.indexOf(0xc02f)], 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    assert.ok((hello['supportedGroups'] as string[]).includes('x25519'));
    assert.ok((hello['signatureAlgorithms'] as string[]).includes('rsa_pss_rsae_sha256'));
    assert.deepEqual(hello['compressionMethods'], [0]);
    assert.equal(hello['extendedMasterSecret'], true);
    assert.equal((hello['random'] as string).length, 64);
    assert.match(hello['ja3'] as string, /^[0-9a-f]{32}$/);
    assert.match(hello['ja4'] as string, /^t12d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
    const extensions = hello['extensions'] as Array<{ type: number; name: string }>;
    assert.deepEqual(extensions[0], { type: 0, name: 'server_name', length: 14 });
  });

  test('reports the chosen suite, decomposed, and the negotiated version', () => {
    const sh = find(messages, 'ServerHello');
    assert.equal(sh['version'], 'TLSv1.2');
    assert.deepEqual(sh['cipher'], {
      id: 0x0035,
      name: 'TLS_RSA_WITH_AES_256_CBC_SHA',
      keyExchange: 'RSA',
      authentication: 'RSA',
      encryption: 'AES-256-CBC',
      mac: 'SHA-1',
    });
    assert.equal(sh['alpn'], null);
  });

  test('summarises both certificates of the chain with node:crypto', () => {
    const cert = find(messages, 'Certificate');
    assert.equal(cert['count'], 2);
    const [leaf, ca] = cert['certificates'] as Array<Record<string, unknown>>;
    assert.equal(leaf!['subject'], 'CN=localhost');
    assert.equal(leaf!['issuer'], 'CN=mitmscope fixture CA');
    assert.deepEqual(leaf!['sans'], ['DNS:localhost', 'IP Address:127.0.0.1']);
    assert.match(leaf!['sha256'] as string, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(leaf!['notBefore'] as string, /^\d{4}-\d\d-\d\dT/);
    assert.equal(ca!['subject'], 'CN=mitmscope fixture CA');
    assert.equal(leaf!['error'], undefined);
  });

  test('sizes the RSA-encrypted pre-master secret and marks the finished messages encrypted', () => {
    assert.deepEqual(find(messages, 'ClientKeyExchange'), { keyExchange: 'RSA', encryptedPreMasterLength: 256 });
    assert.equal(find(messages, 'Finished')['encrypted'], true);
    assert.equal(typeof find(messages, 'ApplicationData')['length'], 'number');
  });
});

describe('a recorded TLS 1.2 ECDHE handshake (s_client ↔ s_server -cipher ECDHE-RSA-AES128-GCM-SHA256)', () => {
  const messages = replay(loadFixture('openssl-ecdhe-tls12'));

  test('includes the ServerKeyExchange and the plaintext NewSessionTicket before the server CCS', () => {
    assert.deepEqual(summary(messages), [
      'c2s ClientHello',
      's2c ServerHello',
      's2c Certificate',
      's2c ServerKeyExchange',
      's2c ServerHelloDone',
      'c2s ClientKeyExchange',
      'c2s ChangeCipherSpec',
      'c2s Finished',
      's2c NewSessionTicket',
      's2c ChangeCipherSpec',
      's2c Finished',
      'c2s ApplicationData',
      's2c ApplicationData',
    ]);
  });

  test('decodes the ECDHE parameters with the suite chosen in the ServerHello', () => {
    assert.deepEqual(find(messages, 'ServerKeyExchange'), {
      keyExchange: 'ECDHE',
      curveType: 'named_curve',
      group: 'x25519',
      groupId: 29,
      publicKeyLength: 32,
      signatureAlgorithm: 'rsa_pss_rsae_sha256',
      signatureLength: 256,
    });
    assert.deepEqual(find(messages, 'ClientKeyExchange'), { keyExchange: 'ECDHE', publicKeyLength: 32 });
    assert.equal(find(messages, 'NewSessionTicket')['lifetimeHint'], 7200);
  });

  test('reports the ALPN protocol the server selected and the decomposed ECDHE suite', () => {
    const sh = find(messages, 'ServerHello');
    assert.equal(sh['alpn'], 'http/1.1');
    assert.equal((sh['cipher'] as { keyExchange: string }).keyExchange, 'ECDHE');
    assert.equal((sh['cipher'] as { mac: string }).mac, 'AEAD (SHA-256 PRF)');
    assert.deepEqual(find(messages, 'ClientHello')['alpn'], ['http/1.1']);
  });
});

describe('a recorded TLS 1.2 DHE handshake (Node ↔ s_server -cipher DHE-RSA-AES128-GCM-SHA256)', () => {
  const messages = replay(loadFixture('node-dhe-tls12'));

  test('reports the size of the DH prime and names the well-known group', () => {
    const ske = find(messages, 'ServerKeyExchange');
    assert.equal(ske['keyExchange'], 'DHE');
    assert.equal(ske['primeBits'], 2048);
    assert.equal(ske['group'], 'modp2048');
    assert.equal(ske['signatureAlgorithm'], 'rsa_pss_rsae_sha256');
    assert.deepEqual(find(messages, 'ClientKeyExchange'), { keyExchange: 'DHE', publicKeyLength: 256 });
  });
});

describe('recorded TLS 1.3 handshakes', () => {
  test('Node ↔ s_server: hello, middlebox CCS, the encrypted server flight, the client Finished, then data', () => {
    const messages = replay(loadFixture('node-tls13'));
    assert.deepEqual(summary(messages), [
      'c2s ClientHello',
      's2c ServerHello',
      's2c ChangeCipherSpec',
      's2c EncryptedHandshake',
      's2c EncryptedHandshake',
      's2c EncryptedHandshake',
      's2c EncryptedHandshake',
      'c2s ChangeCipherSpec',
      'c2s EncryptedHandshake',
      'c2s ApplicationData',
      's2c ApplicationData',
    ]);
    const sh = find(messages, 'ServerHello');
    assert.equal(sh['version'], 'TLSv1.3');
    assert.equal(sh['legacyVersion'], 0x0303);
    assert.equal(sh['group'], 'x25519');
    assert.equal((sh['cipher'] as { name: string }).name, 'TLS_AES_256_GCM_SHA384');
    assert.equal(find(messages, 'ChangeCipherSpec')['middleboxCompatibility'], true);
    assert.deepEqual(find(messages, 'ClientHello')['supportedVersions'], ['TLSv1.3', 'TLSv1.2']);
    assert.deepEqual(find(messages, 'ClientHello')['keyShareGroups'], ['x25519']);
  });

  test("Chromium's hello keeps its GREASE values and shows ECH, ALPS, certificate compression and the ML-KEM share", () => {
    const messages = replay(loadFixture('chromium-tls13'));
    const hello = find(messages, 'ClientHello');
    const suites = hello['cipherSuites'] as number[];
    assert.match((hello['cipherSuiteNames'] as string[])[0]!, /^GREASE \(0x[0-9a-f]a[0-9a-f]a\)$/);
    assert.ok(suites.includes(0x1301));
    assert.equal(hello['sni'], 'localhost');
    assert.deepEqual(hello['alpn'], ['h2', 'http/1.1']);
    assert.equal(hello['encryptedClientHello'], true);
    assert.deepEqual(hello['compressCertificate'], ['brotli']);
    assert.deepEqual(hello['applicationSettings'], ['h2']);
    assert.ok((hello['keyShareGroups'] as string[]).includes('X25519MLKEM768'));
    assert.ok((hello['supportedGroups'] as string[]).includes('X25519MLKEM768'));
    assert.deepEqual(hello['pskKeyExchangeModes'], ['psk_dhe_ke']);
    const names = (hello['extensions'] as Array<{ name: string }>).map((e) => e.name);
    for (const n of ['encrypted_client_hello', 'application_settings', 'compress_certificate', 'key_share', 'renegotiation_info']) assert.ok(names.includes(n), n);
    assert.match(hello['ja4'] as string, /^t13d\d{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$/);
    assert.deepEqual(summary(messages).slice(-2), ['c2s ApplicationData', 's2c ApplicationData']);
  });

  test('a HelloRetryRequest is recognised by its special random and the second ClientHello is still parsed', () => {
    const messages = replay(loadFixture('openssl-hrr-tls13'));
    assert.deepEqual(summary(messages).slice(0, 6), [
      'c2s ClientHello',
      's2c HelloRetryRequest',
      's2c ChangeCipherSpec',
      'c2s ChangeCipherSpec',
      'c2s ClientHello',
      's2c ServerHello',
    ]);
    assert.equal(find(messages, 'HelloRetryRequest')['group'], 'secp384r1');
    assert.deepEqual(find(messages, 'ClientHello', 0)['keyShareGroups'], ['x25519']);
    assert.deepEqual(find(messages, 'ClientHello', 1)['keyShareGroups'], ['secp384r1']);
    assert.equal(find(messages, 'ServerHello')['group'], 'secp384r1');
    assert.equal(summary(messages).filter((s) => s === 'c2s EncryptedHandshake').length, 1);
  });
});

describe('alerts', () => {
  test('a fatal plaintext alert is named and ends the parse', () => {
    const parser = new TlsConnectionParser();
    const messages = replay(loadFixture('openssl-alert-tls12'), parser);
    assert.deepEqual(summary(messages), ['c2s ClientHello', 's2c Alert']);
    assert.deepEqual(find(messages, 'Alert'), { level: 'fatal', description: 'handshake_failure', code: 40 });
    assert.equal(parser.done, true);
    assert.deepEqual(parser.push('c2s', simpleHello), []);
  });

  test('a warning alert does not end the parse, and two alerts in one record are both reported', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    const messages = parser.push('s2c', record(ALERT, Buffer.from([1, 112, 1, 0])));
    assert.deepEqual(messages.map((m) => m.details), [
      { level: 'warning', description: 'unrecognized_name', code: 112 },
      { level: 'warning', description: 'close_notify', code: 0 },
    ]);
    assert.equal(parser.done, false);
  });

  test('an alert after ChangeCipherSpec is reported as encrypted, its level unknown', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    parser.push('s2c', serverHello(0x0035));
    parser.push('c2s', record(CCS, Buffer.from([1])));
    const messages = parser.push('c2s', record(ALERT, Buffer.alloc(26, 9)));
    assert.deepEqual(messages, [{ sender: 'c2s', type: 'Alert', details: { encrypted: true, length: 26 } }]);
    assert.equal(parser.done, false);
  });
});

describe('feeding the bytes differently', () => {
  for (const name of FIXTURE_NAMES) {
    test(`${name}: one byte at a time gives the same messages as whole chunks`, () => {
      const whole = replay(loadFixture(name));
      const parser = new TlsConnectionParser();
      const byByte = replay(rechunk(loadFixture(name), 1), parser);
      assert.deepEqual(byByte, whole);
      assert.equal(parser.bufferedBytes, 0);
    });
  }

  test('odd-sized pieces give the same messages as whole chunks', () => {
    for (const name of FIXTURE_NAMES) {
      for (const size of [2, 3, 7, 100, 1000]) assert.deepEqual(replay(rechunk(loadFixture(name), size)), replay(loadFixture(name)), `${name} in ${size}-byte pieces`);
    }
  });

  test('a handshake message split over several records is reassembled, and several messages in one record are all read', () => {
    const body = handshake(1, clientHelloBody({ ciphers: [0x1301, 0xc02f], extensions: [ext.sni('split.example'), ext.alpn('h2')] }));
    const pieces = [body.subarray(0, 3), body.subarray(3, 40), body.subarray(40)];
    const parser = new TlsConnectionParser();
    const messages = parser.push('c2s', Buffer.concat(pieces.map((p) => record(HANDSHAKE, p, 0x0301))));
    assert.deepEqual(summary(messages), ['c2s ClientHello']);
    assert.equal(messages[0]!.details['sni'], 'split.example');
    const flight = record(HANDSHAKE, Buffer.concat([
      handshake(2, Buffer.concat([u16(0x0303), Buffer.alloc(32, 1), vec(1), u16(0x0035), u8(0)])),
      handshake(14, Buffer.alloc(0)),
    ]));
    assert.deepEqual(summary(parser.push('s2c', flight)), ['s2c ServerHello', 's2c ServerHelloDone']);
  });
});

describe('input that is not TLS', () => {
  function only(sender: TlsSender, bytes: Uint8Array): { parser: TlsConnectionParser; messages: TlsMessage[] } {
    const parser = new TlsConnectionParser();
    const messages = parser.push(sender, bytes);
    return { parser, messages };
  }

  test('an SSLv2-compatible ClientHello gives exactly one Error that says so', () => {
    const sslv2 = Buffer.from('802e0103010015000000100000390000380000350000160000130000' + '0a0700c0' + '00'.repeat(16), 'hex');
    const { parser, messages } = only('c2s', sslv2);
    assert.deepEqual(messages, [{ sender: 'c2s', type: 'Error', details: { reason: 'SSLv2-compatible ClientHello is not supported' } }]);
    assert.equal(parser.done, true);
    assert.deepEqual(parser.push('c2s', simpleHello), []);
  });

  test('plain HTTP requests sent to a TLS port are named as such', () => {
    for (const line of ['GET / HTTP/1.1\r\n', 'CONNECT example.com:443 HTTP/1.1\r\n', 'PRI * HTTP/2.0\r\n', 'POST /x HTTP/1.1\r\n', 'OPTIONS * HTTP/1.1\r\n']) {
      const { messages } = only('c2s', Buffer.from(line));
      assert.deepEqual(summary(messages), ['c2s Error'], line);
      assert.equal(messages[0]!.details['reason'], 'plain HTTP sent to a TLS port', line);
    }
  });

  test('a server that answers in plain HTTP is named as such', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    const messages = parser.push('s2c', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'));
    assert.equal(messages[0]!.details['reason'], 'plain HTTP response where TLS was expected');
  });

  test('garbage is rejected with its content type, a bad version or an oversized record', () => {
    assert.equal(only('c2s', Buffer.from([0, 1, 2, 3, 4, 5])).messages[0]!.details['reason'], 'not a TLS record: content type 0x00');
    assert.equal(only('c2s', Buffer.from([0x16, 0x02, 0x00, 0x00, 0x05])).messages[0]!.details['reason'], 'not a TLS record: version 0x0200');
    const big = only('c2s', Buffer.from([0x17, 0x03, 0x03, 0xff, 0xff]));
    assert.match(big.messages[0]!.details['reason'] as string, new RegExp(`record length 65535 exceeds the ${MAX_RECORD_LENGTH}-byte maximum`));
    assert.equal(big.parser.done, true);
  });

  test('a record of exactly the maximum length is accepted', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    parser.push('s2c', serverHello(0x0035));
    const messages = parser.push('c2s', record(APP, Buffer.alloc(MAX_RECORD_LENGTH)));
    assert.deepEqual(messages, [{ sender: 'c2s', type: 'ApplicationData', details: { length: MAX_RECORD_LENGTH } }]);
  });

  test('a truncated ClientHello body gives an Error naming what was short', () => {
    const body = clientHelloBody({ ciphers: [0x0035] }).subarray(0, 30);
    const { messages } = only('c2s', record(HANDSHAKE, handshake(1, body)));
    assert.deepEqual(summary(messages), ['c2s Error']);
    assert.match(messages[0]!.details['reason'] as string, /^malformed ClientHello: truncated random/);
  });

  test('a garbage record after a good start is an Error too', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    const messages = parser.push('c2s', Buffer.from('GET / HTTP/1.1\r\n'));
    assert.equal(messages[0]!.details['reason'], 'not a TLS record: content type 0x47');
  });
});

describe('limits and odd corners', () => {
  test('a handshake message over the reassembly cap is skipped without being buffered', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    parser.push('s2c', serverHello(0x0035));
    const length = MAX_HANDSHAKE_MESSAGE + 10_000;
    const message = Buffer.concat([u8(11), u24(length), Buffer.alloc(length, 0x30)]);
    const out: TlsMessage[] = [];
    for (let i = 0; i < message.length; i += 16_000) {
      out.push(...parser.push('s2c', record(HANDSHAKE, message.subarray(i, i + 16_000))));
      assert.ok(parser.bufferedBytes < 100, `buffered ${parser.bufferedBytes}`);
    }
    assert.deepEqual(out, [{ sender: 's2c', type: 'Certificate', details: { length, skipped: `larger than the ${MAX_HANDSHAKE_MESSAGE}-byte reassembly cap` } }]);
  });

  test('a certificate that is not DER gets a summary with an error instead of a throw', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    parser.push('s2c', serverHello(0x0035));
    const cert = handshake(11, vec(3, vec(3, Buffer.from('not a certificate'))));
    const [m] = parser.push('s2c', record(HANDSHAKE, cert));
    const [summaryOf] = m!.details['certificates'] as Array<Record<string, unknown>>;
    assert.match(summaryOf!['error'] as string, /^not a valid X\.509 certificate/);
    assert.match(summaryOf!['sha256'] as string, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  test('a peer flooding tiny handshake messages is cut off after MAX_MESSAGES with one Error', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    const flood = record(HANDSHAKE, Buffer.concat(Array.from({ length: 2000 }, () => handshake(0, Buffer.alloc(0)))));
    const messages = parser.push('s2c', flood);
    assert.equal(messages.length, MAX_MESSAGES);
    assert.deepEqual(messages.at(-1), { sender: 's2c', type: 'Error', details: { reason: `more than ${MAX_MESSAGES} TLS messages on one connection; parsing stopped` } });
    assert.equal(parser.done, true);
  });

  test('an alert whose level is neither warning nor fatal is an Error', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    const messages = parser.push('s2c', record(ALERT, Buffer.from([7, 40])));
    assert.deepEqual(messages, [{ sender: 's2c', type: 'Error', details: { reason: 'malformed Alert: level 7 is neither warning nor fatal', message: 'Alert' } }]);
  });

  test('heartbeat records are named', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    assert.deepEqual(parser.push('c2s', record(24, Buffer.alloc(19))), [{ sender: 'c2s', type: 'Heartbeat', details: { length: 19, encrypted: false } }]);
  });

  test('0-RTT data after a hello that offers early_data is reported once, and does not end the handshake', () => {
    const hello = record(HANDSHAKE, handshake(1, clientHelloBody({ ciphers: [0x1301], extensions: [ext.supportedVersions(0x0304), ext.empty(42), ext.empty(41)] })), 0x0301);
    const parser = new TlsConnectionParser();
    parser.push('c2s', hello);
    const early = parser.push('c2s', Buffer.concat([record(APP, Buffer.alloc(50)), record(APP, Buffer.alloc(60))]));
    assert.deepEqual(early, [{ sender: 'c2s', type: 'ApplicationData', details: { length: 50, earlyData: true } }]);
    assert.equal(parser.done, false);
  });

  test('the parser is done once both sides sent application data, and ignores bytes after that', () => {
    const parser = new TlsConnectionParser();
    replay(loadFixture('curl-rsa-tls12'), parser);
    assert.equal(parser.done, true);
    assert.deepEqual(parser.push('s2c', Buffer.from('anything at all')), []);
    assert.equal(parser.cipher?.name, 'TLS_RSA_WITH_AES_256_CBC_SHA');
  });

  test('TLS 1.2 renegotiation records after Finished are EncryptedHandshake', () => {
    const parser = new TlsConnectionParser();
    parser.push('c2s', simpleHello);
    parser.push('s2c', serverHello(0x0035));
    parser.push('c2s', record(CCS, Buffer.from([1])));
    const messages = parser.push('c2s', Buffer.concat([record(HANDSHAKE, Buffer.alloc(40)), record(HANDSHAKE, Buffer.alloc(80))]));
    assert.deepEqual(summary(messages), ['c2s Finished', 'c2s EncryptedHandshake']);
  });
});

describe('peekClientHello', () => {
  const chromium = stream(loadFixture('chromium-tls13'), 'c2s');
  const helloLength = 5 + ((chromium[3]! << 8) | chromium[4]!);

  test('asks for more until the whole hello is there, then returns it with the raw handshake message', () => {
    for (const n of [0, 1, 4, 5, 6, 100, helloLength - 1]) assert.deepEqual(peekClientHello(chromium.subarray(0, n)), { status: 'need-more' }, `${n} bytes`);
    const r = peekClientHello(chromium.subarray(0, helloLength));
    assert.equal(r.status, 'ok');
    if (r.status !== 'ok') return;
    assert.equal(r.hello.sni, 'localhost');
    assert.equal(r.raw[0], 1);
    assert.equal(r.raw.length, helloLength - 5);
    assert.deepEqual(parseClientHello(r.raw.subarray(4)), r.hello);
    assert.equal(peekClientHello(chromium).status, 'ok');
  });

  test('reassembles a hello that the client split over several records', () => {
    const message = chromium.subarray(5, helloLength);
    const pieces: Buffer[] = [];
    for (let i = 0; i < message.length; i += 300) pieces.push(record(HANDSHAKE, message.subarray(i, i + 300), 0x0301));
    const bytes = Buffer.concat(pieces);
    assert.deepEqual(peekClientHello(bytes.subarray(0, bytes.length - 1)), { status: 'need-more' });
    const r = peekClientHello(bytes);
    assert.equal(r.status, 'ok');
    if (r.status === 'ok') assert.deepEqual(r.raw, Uint8Array.from(message));
  });

  test('says why the bytes are not a TLS ClientHello', () => {
    const reason = (bytes: Uint8Array): string => {
      const r = peekClientHello(bytes);
      assert.equal(r.status, 'not-tls');
      return r.status === 'not-tls' ? r.reason : '';
    };
    assert.equal(reason(Buffer.from('GET / HTTP/1.1\r\n')), 'plain HTTP sent to a TLS port');
    assert.equal(reason(Buffer.from('802e0103010015000000100000390000380000350000160000', 'hex')), 'SSLv2-compatible ClientHello is not supported');
    assert.equal(reason(Buffer.from([0x16, 0x05])), 'not a TLS record: version byte 0x05');
    assert.equal(reason(Buffer.from([0x01])), 'not a TLS record: content type 0x01');
    assert.equal(reason(record(APP, Buffer.alloc(10))), 'expected a handshake record, got content type 23');
    assert.equal(reason(record(HANDSHAKE, handshake(2, Buffer.alloc(40)))), 'first handshake message is ServerHello, not ClientHello');
    assert.match(reason(record(HANDSHAKE, handshake(1, Buffer.alloc(10)))), /^malformed ClientHello: truncated random/);
    assert.deepEqual(peekClientHello(Buffer.from('GE')), { status: 'need-more' });
  });

  test('parseClientHello returns null for bytes that are not a hello body', () => {
    assert.equal(parseClientHello(Buffer.alloc(0)), null);
    assert.equal(parseClientHello(Buffer.from('hello')), null);
    const body = clientHelloBody({ ciphers: [0x0035], extensions: [ext.sni('a.example')] });
    assert.equal(parseClientHello(Buffer.concat([body, Buffer.from([0])])), null);
    assert.equal(parseClientHello(body)?.sni, 'a.example');
  });

  test('an extension with a broken body is listed as malformed while the rest of the hello still parses', () => {
    const body = clientHelloBody({ ciphers: [0x0035], extensions: [[0, Buffer.from([0, 9, 0])], ext.alpn('h2')] });
    const hello = parseClientHello(body);
    assert.deepEqual(hello?.malformedExtensions, ['server_name']);
    assert.deepEqual(hello?.alpn, ['h2']);
    assert.equal(hello?.sni, null);
  });
});

