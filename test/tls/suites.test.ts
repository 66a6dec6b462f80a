import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getCiphers } from 'node:tls';
import {
  alertDescriptionName,
  cipherByOpenSslName,
  cipherInfo,
  cipherName,
  decomposeSuiteName,
  extensionName,
  groupName,
  isGrease,
  knownCipherSuites,
  signatureSchemeName,
  versionName,
} from '../../src/tls/suites.js';
import { requireTools } from '../helpers/tools.js';

describe('the cipher-suite table', () => {
  test('TLS_RSA_WITH_AES_256_CBC_SHA reads as RSA key exchange, RSA authentication, AES-256-CBC and SHA-1', () => {
    assert.deepEqual(cipherInfo(0x0035), {
      id: 0x0035,
      name: 'TLS_RSA_WITH_AES_256_CBC_SHA',
      keyExchange: 'RSA',
      authentication: 'RSA',
      encryption: 'AES-256-CBC',
      mac: 'SHA-1',
    });
  });

  test('an ECDHE GCM suite is ECDHE over RSA with an AEAD cipher and its PRF hash', () => {
    assert.deepEqual(cipherInfo(0xc02f), {
      id: 0xc02f,
      name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      keyExchange: 'ECDHE',
      authentication: 'RSA',
      encryption: 'AES-128-GCM',
      mac: 'AEAD (SHA-256 PRF)',
    });
    assert.equal(cipherInfo(0xc030).mac, 'AEAD (SHA-384 PRF)');
    assert.equal(cipherInfo(0xcca9).encryption, 'CHACHA20-POLY1305');
    assert.equal(cipherInfo(0xcca9).authentication, 'ECDSA');
  });

  test('the TLS 1.3 suites 0x1301-0x1305 leave key exchange and authentication to the extensions', () => {
    const names = [0x1301, 0x1302, 0x1303, 0x1304, 0x1305].map(cipherName);
    assert.deepEqual(names, [
      'TLS_AES_128_GCM_SHA256',
      'TLS_AES_256_GCM_SHA384',
      'TLS_CHACHA20_POLY1305_SHA256',
      'TLS_AES_128_CCM_SHA256',
      'TLS_AES_128_CCM_8_SHA256',
    ]);
    const info = cipherInfo(0x1302);
    assert.equal(info.keyExchange, 'any (TLS 1.3)');
    assert.equal(info.authentication, 'any (TLS 1.3)');
    assert.equal(info.encryption, 'AES-256-GCM');
    assert.equal(info.mac, 'AEAD (SHA-384 PRF)');
    assert.equal(cipherInfo(0x1305).encryption, 'AES-128-CCM-8');
  });

  test('DHE, PSK, anonymous, export, NULL and CCM suites decompose the way a person reads them', () => {
    assert.deepEqual(decomposeSuiteName('TLS_DHE_RSA_WITH_AES_128_GCM_SHA256'), { keyExchange: 'DHE', authentication: 'RSA', encryption: 'AES-128-GCM', mac: 'AEAD (SHA-256 PRF)' });
    assert.deepEqual(decomposeSuiteName('TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA'), { keyExchange: 'DHE', authentication: 'DSS', encryption: '3DES-EDE-CBC', mac: 'SHA-1' });
    assert.deepEqual(decomposeSuiteName('TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256'), { keyExchange: 'ECDHE-PSK', authentication: 'PSK', encryption: 'AES-128-CBC', mac: 'SHA-256' });
    assert.deepEqual(decomposeSuiteName('TLS_RSA_PSK_WITH_AES_256_GCM_SHA384'), { keyExchange: 'RSA-PSK', authentication: 'RSA', encryption: 'AES-256-GCM', mac: 'AEAD (SHA-384 PRF)' });
    assert.deepEqual(decomposeSuiteName('TLS_DH_anon_WITH_AES_128_CBC_SHA'), { keyExchange: 'DH', authentication: 'none (anonymous)', encryption: 'AES-128-CBC', mac: 'SHA-1' });
    assert.deepEqual(decomposeSuiteName('TLS_RSA_EXPORT_WITH_RC4_40_MD5'), { keyExchange: 'RSA (export)', authentication: 'RSA', encryption: 'RC4-40', mac: 'MD5' });
    assert.deepEqual(decomposeSuiteName('TLS_RSA_WITH_NULL_SHA256'), { keyExchange: 'RSA', authentication: 'RSA', encryption: 'NULL', mac: 'SHA-256' });
    assert.deepEqual(decomposeSuiteName('TLS_NULL_WITH_NULL_NULL'), { keyExchange: 'NULL', authentication: 'NULL', encryption: 'NULL', mac: 'NULL' });
    assert.deepEqual(decomposeSuiteName('TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8'), { keyExchange: 'ECDHE', authentication: 'ECDSA', encryption: 'AES-128-CCM-8', mac: 'AEAD (SHA-256 PRF)' });
    assert.deepEqual(decomposeSuiteName('TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA'), { keyExchange: 'SRP', authentication: 'RSA', encryption: 'AES-128-CBC', mac: 'SHA-1' });
  });

  test('every RSA, ECDHE, DHE and PSK suite of the IANA registry is named', () => {
    const names = new Set(knownCipherSuites().map((s) => s.name));
    for (const name of [
      'TLS_RSA_WITH_RC4_128_SHA', 'TLS_RSA_WITH_SEED_CBC_SHA', 'TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256', 'TLS_RSA_WITH_ARIA_256_GCM_SHA384',
      'TLS_RSA_WITH_AES_256_CCM', 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8', 'TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256',
      'TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256', 'TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256', 'TLS_PSK_DHE_WITH_AES_256_CCM_8',
      'TLS_EMPTY_RENEGOTIATION_INFO_SCSV', 'TLS_FALLBACK_SCSV', 'TLS_SHA384_SHA384',
    ]) {
      assert.ok(names.has(name), name);
    }
    assert.ok(knownCipherSuites().length > 340);
    for (const s of knownCipherSuites()) {
      assert.match(s.name, /^TLS_[A-Za-z0-9_]+$/);
      for (const field of [s.keyExchange, s.authentication, s.encryption, s.mac]) assert.ok(field.length > 0, `${s.name} has an empty field`);
    }
  });

  test('every suite OpenSSL knows has the same IANA name here and is found by its OpenSSL name', { skip: requireTools('openssl') }, () => {
    const listing = execFileSync('openssl', ['ciphers', '-V', '-stdname', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0']).toString();
    let checked = 0;
    for (const line of listing.trim().split('\n')) {
      const m = /0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+- (\S+)/.exec(line);
      assert.ok(m, line);
      const id = Number.parseInt(m[1]! + m[2]!, 16);
      assert.equal(cipherName(id), m[3], `name of 0x${id.toString(16)}`);
      assert.equal(cipherByOpenSslName(m[4]!)?.id, id, `OpenSSL name ${m[4]}`);
      checked++;
    }
    assert.ok(checked > 100);
  });

  test("Node's lower-case cipher names and getCipher().standardName both find their suite", () => {
    for (const name of getCiphers()) assert.notEqual(cipherByOpenSslName(name), null, name);
    assert.equal(cipherByOpenSslName('AES256-SHA')?.id, 0x0035);
    assert.equal(cipherByOpenSslName('ECDHE-RSA-AES128-GCM-SHA256')?.id, 0xc02f);
    assert.equal(cipherByOpenSslName('TLS_AES_128_GCM_SHA256')?.id, 0x1301);
    assert.equal(cipherByOpenSslName('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')?.id, 0xc02f);
    assert.equal(cipherByOpenSslName('DES-CBC3-SHA')?.name, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA');
    assert.equal(cipherByOpenSslName('NOT-A-CIPHER'), null);
  });

  test('GREASE values 0x0a0a..0xfafa are recognised and labelled, other ids are not GREASE', () => {
    const grease = Array.from({ length: 16 }, (_, i) => i * 0x1010 + 0x0a0a);
    assert.equal(grease[15], 0xfafa);
    for (const g of grease) {
      assert.ok(isGrease(g), g.toString(16));
      assert.equal(cipherName(g), `GREASE (0x${g.toString(16).padStart(4, '0')})`);
    }
    for (const v of [0x0a1a, 0x1a0a, 0x0a0b, 0x0035, 0x1301, 0xfafb]) assert.equal(isGrease(v), false, v.toString(16));
    assert.equal(cipherInfo(0x2a2a).keyExchange, 'GREASE');
    assert.equal(groupName(0x3a3a), 'GREASE (0x3a3a)');
    assert.equal(extensionName(0x4a4a), 'GREASE (0x4a4a)');
  });

  test('an unknown suite id gets a name that says so, with its id in hex', () => {
    assert.deepEqual(cipherInfo(0x1234), { id: 0x1234, name: 'unknown (0x1234)', keyExchange: 'unknown', authentication: 'unknown', encryption: 'unknown', mac: 'unknown' });
    assert.equal(cipherName(0x00fe), 'unknown (0x00fe)');
  });

  test('cipherInfo hands out copies, so callers cannot change the table', () => {
    const a = cipherInfo(0x0035);
    a.name = 'changed';
    assert.equal(cipherName(0x0035), 'TLS_RSA_WITH_AES_256_CBC_SHA');
  });
});

describe('the name tables', () => {
  test('named groups include the classic curves, X25519MLKEM768 and the ffdhe groups', () => {
    assert.equal(groupName(29), 'x25519');
    assert.equal(groupName(23), 'secp256r1');
    assert.equal(groupName(24), 'secp384r1');
    assert.equal(groupName(25), 'secp521r1');
    assert.equal(groupName(30), 'x448');
    assert.equal(groupName(0x11ec), 'X25519MLKEM768');
    assert.equal(groupName(0x0100), 'ffdhe2048');
    assert.equal(groupName(0x0104), 'ffdhe8192');
    assert.equal(groupName(0x7777), 'unknown (0x7777)');
  });

  test('signature schemes have their RFC 8446 names, and TLS 1.2 hash/signature pairs are spelled out', () => {
    assert.equal(signatureSchemeName(0x0401), 'rsa_pkcs1_sha256');
    assert.equal(signatureSchemeName(0x0403), 'ecdsa_secp256r1_sha256');
    assert.equal(signatureSchemeName(0x0804), 'rsa_pss_rsae_sha256');
    assert.equal(signatureSchemeName(0x0807), 'ed25519');
    assert.equal(signatureSchemeName(0x0201), 'rsa_pkcs1_sha1');
    assert.equal(signatureSchemeName(0x0303), 'ecdsa_sha224');
    assert.equal(signatureSchemeName(0x0402), 'dsa_sha256');
    assert.equal(signatureSchemeName(0xeeee), 'unknown (0xeeee)');
  });

  test('alert descriptions cover RFC 5246 and RFC 8446', () => {
    assert.equal(alertDescriptionName(40), 'handshake_failure');
    assert.equal(alertDescriptionName(42), 'bad_certificate');
    assert.equal(alertDescriptionName(48), 'unknown_ca');
    assert.equal(alertDescriptionName(70), 'protocol_version');
    assert.equal(alertDescriptionName(0), 'close_notify');
    assert.equal(alertDescriptionName(116), 'certificate_required');
    assert.equal(alertDescriptionName(120), 'no_application_protocol');
    assert.equal(alertDescriptionName(200), 'unknown (200)');
  });

  test('extension names follow the IANA registry, including the deployed private numbers', () => {
    const expected: Array<[number, string]> = [
      [0, 'server_name'], [5, 'status_request'], [10, 'supported_groups'], [11, 'ec_point_formats'],
      [13, 'signature_algorithms'], [16, 'application_layer_protocol_negotiation'], [23, 'extended_master_secret'],
      [27, 'compress_certificate'], [35, 'session_ticket'], [43, 'supported_versions'], [45, 'psk_key_exchange_modes'],
      [51, 'key_share'], [17513, 'application_settings'], [17613, 'application_settings'],
      [65037, 'encrypted_client_hello'], [65281, 'renegotiation_info'],
    ];
    for (const [type, name] of expected) assert.equal(extensionName(type), name);
    assert.equal(extensionName(40), 'unknown (0x0028)');
  });

  test("protocol versions use Node's spelling", () => {
    assert.deepEqual([0x0300, 0x0301, 0x0302, 0x0303, 0x0304].map(versionName), ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']);
    assert.equal(versionName(0x7f17), 'TLSv1.3 (draft 23)');
    assert.equal(versionName(0x0a0a), 'GREASE (0x0a0a)');
  });
});
