import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decryptedExplanation, securedSteps } from '../../ui/src/tls-secured.js';
import { eventHint, isAlarm } from '../../ui/src/tls-words.js';
import type { Handshake, HandshakeEvent } from '../../ui/src/types.js';

function handshake(version: string, cipher: Partial<Handshake['cipher']> & { name: string }, events: Array<Partial<HandshakeEvent> & { type: string }>): Handshake {
  return {
    version,
    cipher: { id: 0, keyExchange: 'any (TLS 1.3)', authentication: 'any (TLS 1.3)', encryption: 'AES-128-GCM', mac: 'AEAD (SHA-256 PRF)', ...cipher },
    sni: 'example.test',
    alpn: 'http/1.1',
    alpnOffered: [],
    ja3: null,
    ja3String: null,
    ja4: null,
    offeredCiphers: [],
    group: 'x25519',
    certificates: [{ subject: 'CN=example.test', issuer: 'CN=Test CA', notBefore: '', notAfter: '', sans: [], sha256: '' }],
    events: events.map((e) => ({ t: 0, from: 'server', details: {}, ...e })),
    error: null,
    fallback: null,
    resumed: false,
  } as Handshake;
}

describe('what mitmscope decrypted, in words', () => {
  it('a TLS 1.3 leg with decrypted messages reads as five secured steps', () => {
    const hs = handshake('TLSv1.3', { name: 'TLS_AES_128_GCM_SHA256' }, [
      { type: 'ServerHello', details: { version: 'TLSv1.3' } },
      { type: 'EncryptedExtensions', details: { decrypted: true, alpn: 'http/1.1' } },
      { type: 'Certificate', details: { decrypted: true, count: 1 } },
      { type: 'CertificateVerify', details: { decrypted: true, signatureAlgorithm: 'rsa_pss_rsae_sha256' } },
      { type: 'Finished', details: { decrypted: true, verifyDataLength: 32 } },
      { type: 'Finished', from: 'proxy', details: { decrypted: true, verifyDataLength: 32 } },
    ]);
    const steps = securedSteps(hs);
    assert.deepEqual(steps.map((s) => [s.id, s.status]), [['hello', 'ok'], ['certificate', 'ok'], ['key-exchange', 'ok'], ['keys', 'ok'], ['finished', 'ok']]);
    assert.match(steps[1]!.text, /decrypted Certificate message/);
    assert.match(steps[3]!.text, /5 messages decrypted/);
    assert.match(decryptedExplanation(hs.events[3]!) ?? '', /rsa_pss_rsae_sha256/);
    assert.equal(eventHint(hs.events[1]!), 'ALPN http/1.1');
  });

  it('TLS 1.2 with RSA key transport warns about forward secrecy and reports the key block and verified Finished', () => {
    const keyBlock = { length: 104, macKeyLength: 20, keyLength: 32, fixedIvLength: 0, recordIvLength: 16 };
    const hs = handshake('TLSv1.2', { name: 'TLS_RSA_WITH_AES_256_CBC_SHA', keyExchange: 'RSA', encryption: 'AES-256-CBC', mac: 'SHA-1' }, [
      { type: 'ServerHello' },
      { type: 'Certificate', details: { count: 1 } },
      { type: 'ClientKeyExchange', from: 'proxy', details: { keyExchange: 'RSA', encryptedPreMasterLength: 256 } },
      { type: 'Finished', from: 'proxy', details: { decrypted: true, verified: true, prfHash: 'SHA-256', keyBlock } },
      { type: 'Finished', details: { decrypted: true, verified: true, prfHash: 'SHA-256', keyBlock } },
    ]);
    const steps = securedSteps(hs);
    const kx = steps.find((s) => s.id === 'key-exchange')!;
    assert.equal(kx.status, 'warn');
    assert.match(kx.text, /256-byte pre-master secret.*No forward secrecy/);
    assert.match(steps.find((s) => s.id === 'keys')!.text, /104 bytes of key block: 2 × 20-byte MAC keys, 2 × 32-byte encryption keys, no fixed IVs/);
    assert.match(steps.find((s) => s.id === 'finished')!.text, /recomputed/);
    assert.equal(eventHint(hs.events[3]!), 'verified ✓');
  });

  it('a failed check is red and the missing secret is named', () => {
    const hs = handshake('TLSv1.3', { name: 'TLS_AES_128_GCM_SHA256' }, [
      { type: 'EncryptedHandshake', details: { encrypted: true, length: 90, reason: 'SERVER_HANDSHAKE_TRAFFIC_SECRET was not logged for this connection' } },
      { type: 'DecryptionFailed', from: 'client', details: { reason: 'authentication failed (record 0)' } },
    ]);
    assert.equal(isAlarm(hs.events[1]!), true);
    assert.equal(securedSteps(hs).find((s) => s.id === 'finished')!.status, 'bad');
    assert.match(securedSteps(hs).find((s) => s.id === 'keys')!.text, /SERVER_HANDSHAKE_TRAFFIC_SECRET/);
    assert.match(decryptedExplanation(hs.events[0]!) ?? '', /^Not decrypted: SERVER_HANDSHAKE/);
  });
});
