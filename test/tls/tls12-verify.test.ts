import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { prf, keyBlockLayout } from '../../src/tls/tls12-keys.js';
import { Tls12Verifier } from '../../src/tls/tls12-verify.js';
import { cipherInfo } from '../../src/tls/suites.js';
import type { TimedMessage } from '../../src/tls/tls13-decrypt.js';
import { TlsConnectionParser } from '../../src/tls/records.js';
import { loadFixture } from '../fixtures/tls/helpers.js';
import { seeded } from '../helpers/random.js';

/** Replays a recorded TLS 1.2 conversation through the parser and a verifier. */
function run(name: 'curl-rsa-tls12' | 'openssl-ecdhe-tls12', master: Buffer | null, mutate?: (i: number, b: Buffer) => Buffer): { out: TimedMessage[]; verifier: Tls12Verifier } {
  const parser = new TlsConnectionParser();
  const verifier = new Tls12Verifier();
  const out: TimedMessage[] = [];
  let clientRandom = '';
  loadFixture(name).forEach((c, i) => {
    const bytes = mutate ? mutate(i, Buffer.from(c.bytes)) : c.bytes;
    for (const m of parser.push(c.dir, bytes)) {
      if (m.type === 'ClientHello') clientRandom = String(m.details['random']);
      out.push(...verifier.noteMessage(m));
    }
    out.push(...verifier.push(c.dir, bytes, i));
    if (master && clientRandom) out.push(...verifier.addSecret('CLIENT_RANDOM', clientRandom, master));
  });
  return { out, verifier };
}

describe('TLS 1.2 keys and Finished check', () => {
  test('the PRF matches the TLS working group P_SHA256 vector', () => {
    const out = prf('sha256', Buffer.from('9bbe436ba940f017b17652849a71db35', 'hex'), 'test label', Buffer.from('a0ba9f936cda311827a6f796ffd5198c', 'hex'), 100);
    assert.equal(
      out.toString('hex'),
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
    );
  });

  test('the key block splits per RFC 5246 §6.3 for CBC, GCM and ChaCha20 suites', () => {
    const sizes = (id: number): unknown => {
      const l = keyBlockLayout(cipherInfo(id));
      return l && [l.macKeyLength, l.keyLength, l.fixedIvLength, l.recordIvLength, l.prfHash];
    };
    // AES-256-CBC-SHA: 2×20 MAC + 2×32 key, no fixed IV (TLS 1.2 CBC records carry their IV).
    assert.deepEqual(sizes(0x0035), [20, 32, 0, 16, 'sha256']);
    assert.deepEqual(sizes(0xc02f), [0, 16, 4, 8, 'sha256']);
    assert.deepEqual(sizes(0xc030), [0, 32, 4, 8, 'sha384']);
    assert.deepEqual(sizes(0xcca8), [0, 32, 12, 0, 'sha256']);
    assert.deepEqual(sizes(0x000a), [20, 24, 0, 8, 'sha256']);
    assert.equal(keyBlockLayout(cipherInfo(0x0005)), null, 'RC4 is named, not decrypted');
  });

  test('a wrong master secret is a decryption failure for each Finished, never a crash', () => {
    const { out, verifier } = run('curl-rsa-tls12', Buffer.alloc(48, 7));
    assert.deepEqual(out.map((m) => `${m.message.sender}:${m.message.type}`), ['c2s:DecryptionFailed', 's2c:DecryptionFailed']);
    assert.match(String(out[0]?.message.details['reason']), /MAC|padding/);
    assert.equal(verifier.done, true);
    assert.equal(verifier.heldBytes, 0);
  });

  test('without a CLIENT_RANDOM line the Finished rows stay opaque and say why', () => {
    const { out, verifier } = run('curl-rsa-tls12', null);
    assert.deepEqual(out, []);
    assert.equal(verifier.waiting, 2);
    const rest = verifier.giveUp('');
    assert.deepEqual(rest.map((m) => m.message.type), ['Finished', 'Finished']);
    assert.equal(rest[0]?.message.details['encrypted'], true);
    assert.match(String(rest[0]?.message.details['reason']), /CLIENT_RANDOM/);
    assert.equal(verifier.heldBytes, 0);
  });

  test('mutated conversations never throw and stay bounded (10,000 seeded cases)', () => {
    const CASES = 10_000;
    for (let i = 0; i < CASES; i++) {
      const rand = seeded(0x1e12_0000 + i);
      const target = Math.floor(rand() * 12);
      const { out, verifier } = run(i % 2 === 0 ? 'curl-rsa-tls12' : 'openssl-ecdhe-tls12', Buffer.alloc(48, i & 0xff), (j, b) => {
        if (j === target && b.length > 0) b[Math.floor(rand() * b.length)] ^= 1 + Math.floor(rand() * 255);
        return b;
      });
      for (const m of out) assert.ok(['Finished', 'DecryptionFailed'].includes(m.message.type), m.message.type);
      verifier.giveUp('end');
      assert.equal(verifier.heldBytes, 0);
    }
  });
});
