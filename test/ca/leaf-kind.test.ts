import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { leafKindFor } from '../../src/ca/leaf-kind.js';
import { readClientHello } from '../../src/tls/hello.js';
import { peekClientHello } from '../../src/tls/records.js';
import { clientHelloBody, ext, loadFixture, stream, type Extension, type FixtureName, type HelloSpec } from '../fixtures/tls/helpers.js';

function recorded(name: FixtureName): ReturnType<typeof leafKindFor> {
  const peeked = peekClientHello(stream(loadFixture(name), 'c2s'));
  assert.equal(peeked.status, 'ok');
  return leafKindFor(peeked.status === 'ok' ? peeked.hello : null);
}

function made(spec: HelloSpec): ReturnType<typeof leafKindFor> {
  return leafKindFor(readClientHello(clientHelloBody(spec)));
}

const TLS13 = 0x0304;
const TLS12 = 0x0303;
const ECDSA_P256_SHA256 = 0x0403;
const RSA_PSS_SHA256 = 0x0804;
const RSA_PKCS1_SHA256 = 0x0401;
const X25519 = 29;
const SECP256R1 = 23;
const ECDHE_ECDSA_AES128_GCM = 0xc02b;
const ECDHE_RSA_AES128_GCM = 0xc02f;
const AES128_GCM_SHA256 = 0x1301;

describe('which leaf a ClientHello accepts', () => {
  test('recorded clients that offer ECDSA get the ECDSA leaf alone', () => {
    for (const name of ['chromium-tls13', 'curl-tls13', 'node-tls13', 'node-dhe-tls12', 'curl-rsa-tls12'] as const) assert.equal(recorded(name), 'ecdsa', name);
  });

  test('a recorded client limited to an RSA suite gets both leaves (OpenSSL serves RSA)', () => {
    assert.equal(recorded('openssl-alert-tls12'), 'both');
  });

  test('TLS 1.3 decides on the signature scheme alone', () => {
    const base = { ciphers: [AES128_GCM_SHA256], version: TLS12 };
    assert.equal(made({ ...base, extensions: [ext.supportedVersions(TLS13, TLS12), ext.groups(X25519), ext.signatureAlgorithms(RSA_PSS_SHA256, ECDSA_P256_SHA256)] }), 'ecdsa');
    assert.equal(made({ ...base, extensions: [ext.supportedVersions(TLS13, TLS12), ext.groups(X25519), ext.signatureAlgorithms(RSA_PSS_SHA256, RSA_PKCS1_SHA256)] }), 'both');
  });

  test('TLS 1.2 also needs an ECDHE_ECDSA suite and the P-256 curve', () => {
    const extensions = (groups: number[]): Extension[] => [ext.groups(...groups), ext.signatureAlgorithms(ECDSA_P256_SHA256, RSA_PKCS1_SHA256)];
    assert.equal(made({ ciphers: [ECDHE_ECDSA_AES128_GCM, ECDHE_RSA_AES128_GCM], extensions: extensions([X25519, SECP256R1]) }), 'ecdsa');
    assert.equal(made({ ciphers: [ECDHE_RSA_AES128_GCM], extensions: extensions([X25519, SECP256R1]) }), 'both');
    assert.equal(made({ ciphers: [ECDHE_ECDSA_AES128_GCM], extensions: extensions([X25519]) }), 'both');
    // Without signature_algorithms a TLS 1.2 client means SHA-1 signatures (RFC 5246 §7.4.1.4.1).
    assert.equal(made({ ciphers: [ECDHE_ECDSA_AES128_GCM], extensions: [ext.groups(SECP256R1)] }), 'both');
  });

  test('no ClientHello, no guess', () => {
    assert.equal(leafKindFor(null), 'both');
  });
});
