import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createCipheriv } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TlsConnectionParser, type TlsSender } from '../../src/tls/records.js';
import { hkdfExpandLabel, openRecord, tls13Suite, trafficKeys, recordNonce, type TrafficKeys } from '../../src/tls/tls13-keys.js';
import { Tls13Decryptor, MAX_PENDING_BYTES, type TimedMessage } from '../../src/tls/tls13-decrypt.js';
import { parseKeylogLine } from '../../src/tls/keylog.js';
import { HANDSHAKE_TYPES } from '../../src/tls/suites.js';
import { seeded } from '../helpers/random.js';

interface VectorRecord {
  from: TlsSender;
  name: string;
  contentType?: number;
  record: string;
  payload?: string;
}
interface Vectors {
  cipherSuite: number;
  secrets: Record<string, string>;
  keys: Record<string, { key: string; iv: string }>;
  records: VectorRecord[];
}

const DIR = dirname(fileURLToPath(import.meta.url));
const RFC8448: Vectors = JSON.parse(readFileSync(join(DIR, '../fixtures/tls/rfc8448-simple-1rtt.json'), 'utf8')) as Vectors;
const suite = tls13Suite(RFC8448.cipherSuite)!;
const record = (name: string): VectorRecord => RFC8448.records.find((r) => r.name === name)!;
const bytes = (hexText: string): Buffer => Buffer.from(hexText, 'hex');
const secret = (label: string): Buffer => bytes(RFC8448.secrets[label]!);

/** Runs the RFC transcript: the plaintext parser reads the hellos, the decryptor the rest. */
function replay(options: { secretsFirst: boolean; omit?: string[]; mutate?: (name: string, b: Buffer) => Buffer }): { out: TimedMessage[]; decryptor: Tls13Decryptor } {
  const parser = new TlsConnectionParser();
  const decryptor = new Tls13Decryptor();
  const out: TimedMessage[] = [];
  const addSecrets = (): void => {
    for (const label of Object.keys(RFC8448.secrets)) if (!options.omit?.includes(label)) out.push(...decryptor.addSecret(label, secret(label)));
  };
  if (options.secretsFirst) addSecrets();
  RFC8448.records.forEach((r, i) => {
    const b = options.mutate ? options.mutate(r.name, bytes(r.record)) : bytes(r.record);
    for (const m of parser.push(r.from, b)) out.push(...decryptor.noteMessage(m));
    out.push(...decryptor.push(r.from, b, i));
  });
  if (!options.secretsFirst) addSecrets();
  return { out, decryptor };
}

const rows = (out: TimedMessage[]): string[] => out.map((m) => `${m.message.sender}:${m.message.type}`);

describe('TLS 1.3 record protection against RFC 8448 §3', () => {
  test('HKDF-Expand-Label derives the write keys and IVs the RFC lists', () => {
    const pairs: Array<[string, string]> = [
      ['SERVER_HANDSHAKE_TRAFFIC_SECRET', 'serverHandshake'],
      ['CLIENT_HANDSHAKE_TRAFFIC_SECRET', 'clientHandshake'],
      ['SERVER_TRAFFIC_SECRET_0', 'serverApplication'],
      ['CLIENT_TRAFFIC_SECRET_0', 'clientApplication'],
    ];
    for (const [label, name] of pairs) {
      const keys = trafficKeys(suite, secret(label));
      assert.equal(keys.key.toString('hex'), RFC8448.keys[name]!.key, `${name} key`);
      assert.equal(keys.iv.toString('hex'), RFC8448.keys[name]!.iv, `${name} iv`);
    }
    // RFC 8448 §3: finished_key = HKDF-Expand-Label(server handshake secret, "finished", "", 32).
    assert.equal(
      hkdfExpandLabel('sha256', secret('SERVER_HANDSHAKE_TRAFFIC_SECRET'), 'finished', new Uint8Array(0), 32).toString('hex'),
      '008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8',
    );
  });

  test('every protected record opens to exactly the payload the RFC lists', () => {
    const seqs: Record<string, bigint> = {
      'server handshake flight': 0n,
      'client Finished': 0n,
      'server NewSessionTicket': 0n,
      'client application data': 0n,
      'server application data': 1n,
      'client close_notify': 1n,
      'server close_notify': 2n,
    };
    const keyFor: Record<string, string> = {
      'server handshake flight': 'SERVER_HANDSHAKE_TRAFFIC_SECRET',
      'client Finished': 'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
      'server NewSessionTicket': 'SERVER_TRAFFIC_SECRET_0',
      'client application data': 'CLIENT_TRAFFIC_SECRET_0',
      'server application data': 'SERVER_TRAFFIC_SECRET_0',
      'client close_notify': 'CLIENT_TRAFFIC_SECRET_0',
      'server close_notify': 'SERVER_TRAFFIC_SECRET_0',
    };
    for (const [name, seq] of Object.entries(seqs)) {
      const r = record(name);
      const result = openRecord(trafficKeys(suite, secret(keyFor[name]!)), seq, bytes(r.record));
      assert.ok(result.ok, `${name} opens`);
      assert.equal(result.contentType, r.contentType, `${name} content type`);
      assert.equal(result.content.toString('hex'), r.payload, `${name} payload`);
      assert.equal(result.paddingLength, 0);
    }
  });

  test('the nonce is the IV XOR the left-padded sequence number (RFC 8446 §5.3)', () => {
    const iv = bytes('5d313eb2671276ee13000b30');
    assert.equal(recordNonce(iv, 0n).toString('hex'), '5d313eb2671276ee13000b30');
    assert.equal(recordNonce(iv, 1n).toString('hex'), '5d313eb2671276ee13000b31');
    assert.equal(recordNonce(iv, 0x0102n).toString('hex'), '5d313eb2671276ee13000a32');
  });

  test('the decryptor turns the encrypted flights into named messages, in order', () => {
    const { out, decryptor } = replay({ secretsFirst: true });
    assert.deepEqual(rows(out), [
      's2c:EncryptedExtensions',
      's2c:Certificate',
      's2c:CertificateVerify',
      's2c:Finished',
      'c2s:Finished',
      's2c:NewSessionTicket',
      'c2s:ApplicationData',
      's2c:ApplicationData',
    ]);
    for (const m of out) assert.equal(m.message.details['decrypted'], true);
    const details = (type: string, dir: TlsSender = 's2c'): Record<string, unknown> => out.find((m) => m.message.type === type && m.message.sender === dir)!.message.details;
    assert.deepEqual(details('EncryptedExtensions')['supportedGroups'], ['x25519', 'secp256r1', 'secp384r1', 'secp521r1', 'ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192']);
    assert.equal(details('EncryptedExtensions')['serverNameAcknowledged'], true);
    assert.equal(details('EncryptedExtensions')['recordSizeLimit'], 0x4001);
    const cert = details('Certificate');
    assert.equal(cert['count'], 1);
    const leaf = (cert['certificates'] as Array<Record<string, unknown>>)[0]!;
    assert.equal(leaf['subject'], 'CN=rsa');
    assert.equal(leaf['issuer'], 'CN=rsa');
    assert.equal(leaf['notBefore'], '2016-07-30T01:23:59.000Z');
    assert.match(String(leaf['sha256']), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.deepEqual(details('CertificateVerify'), { signatureAlgorithm: 'rsa_pss_rsae_sha256', signatureLength: 128, decrypted: true });
    assert.equal(details('Finished')['verifyDataLength'], 32);
    assert.equal(details('Finished', 'c2s')['verifyDataLength'], 32);
    const ticket = details('NewSessionTicket');
    assert.equal(ticket['lifetimeSeconds'], 30);
    assert.equal(ticket['maxEarlyDataSize'], 1024);
    assert.equal(ticket['ticketLength'], 178);
    assert.equal(details('ApplicationData', 'c2s')['length'], 50);
    // Both sides reached application data: the view is complete and the secrets are gone.
    assert.equal(decryptor.done, true);
    assert.equal(decryptor.heldBytes, 0);
  });

  test('records seen before their secret wait for it and keep the time they were seen', () => {
    const early = replay({ secretsFirst: true });
    const late = replay({ secretsFirst: false });
    // Each secret releases its own direction's records; by time they are the same rows.
    late.out.sort((a, b) => a.at - b.at);
    assert.deepEqual(rows(late.out), rows(early.out));
    assert.deepEqual(late.out.map((m) => m.at), early.out.map((m) => m.at));
    assert.deepEqual(late.out.map((m) => m.message.details), early.out.map((m) => m.message.details));
  });

  test('a secret that never comes leaves EncryptedHandshake rows that say which one is missing', () => {
    const { out, decryptor } = replay({ secretsFirst: true, omit: ['SERVER_HANDSHAKE_TRAFFIC_SECRET'] });
    // The client's records have their own keys; the server's whole flight waits.
    assert.deepEqual(rows(out), ['c2s:Finished', 'c2s:ApplicationData']);
    assert.match(String(decryptor.missing('s2c')), /SERVER_HANDSHAKE_TRAFFIC_SECRET was not logged/);
    const rest = decryptor.giveUp(String(decryptor.missing('s2c')));
    // The flight, the ticket, the data and the alert: without keys they cannot be told apart.
    assert.deepEqual(rows(rest), Array(4).fill('s2c:EncryptedHandshake'));
    assert.equal(rest[0]?.message.details['length'], 674);
    assert.match(String(rest[0]?.message.details['reason']), /SERVER_HANDSHAKE_TRAFFIC_SECRET/);
    assert.equal(decryptor.done, true);
    assert.equal(decryptor.heldBytes, 0);
  });

  test('a tampered record is reported as a decryption failure and that direction stops', () => {
    const { out } = replay({
      secretsFirst: true,
      mutate: (name, b) => {
        if (name === 'server handshake flight') b[100] ^= 0x01;
        return b;
      },
    });
    const failure = out.find((m) => m.message.type === 'DecryptionFailed');
    assert.ok(failure, 'a DecryptionFailed event');
    assert.equal(failure.message.sender, 's2c');
    assert.match(String(failure.message.details['reason']), /authentication failed/);
    assert.equal(out.filter((m) => m.message.sender === 's2c').length, 1, 'nothing else from the server');
    // The client's side still decrypts with its own keys.
    assert.ok(out.some((m) => m.message.sender === 'c2s' && m.message.type === 'Finished'));
  });

  test('a TLS 1.2 connection is not touched', () => {
    const decryptor = new Tls13Decryptor();
    decryptor.noteMessage({ sender: 's2c', type: 'ServerHello', details: { version: 'TLSv1.2', cipher: { id: 0x35, name: 'TLS_RSA_WITH_AES_256_CBC_SHA' } } });
    assert.equal(decryptor.active, false);
    assert.deepEqual(decryptor.push('s2c', bytes(record('server handshake flight').record), 0), []);
    assert.equal(decryptor.done, true);
  });

  test('key log lines parse into label, client random and secret; others are refused', () => {
    const line = Buffer.from(`CLIENT_HANDSHAKE_TRAFFIC_SECRET ${'AB'.repeat(32)} ${RFC8448.secrets['CLIENT_HANDSHAKE_TRAFFIC_SECRET']}\n`);
    const entry = parseKeylogLine(line);
    assert.equal(entry?.label, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
    assert.equal(entry?.clientRandom, 'ab'.repeat(32));
    assert.equal(entry?.secret.toString('hex'), RFC8448.secrets['CLIENT_HANDSHAKE_TRAFFIC_SECRET']);
    assert.equal(parseKeylogLine(Buffer.from('# comment\n')), null);
    assert.equal(parseKeylogLine(Buffer.from(`CLIENT_RANDOM ${'ab'.repeat(32)} abc\n`)), null);
  });
});

/** Protects one record the way a TLS 1.3 sender does (RFC 8446 §5.2), with node:crypto's encrypting side. */
function seal(keys: TrafficKeys, seq: bigint, contentType: number, content: Buffer, padding = 0): Buffer {
  const inner = Buffer.concat([content, Buffer.of(contentType), Buffer.alloc(padding)]);
  const header = Buffer.from([23, 3, 3, 0, 0]);
  header.writeUInt16BE(inner.length + keys.suite.tagLength, 3);
  const cipher = createCipheriv(keys.suite.cipher as 'aes-128-ccm', keys.key, recordNonce(keys.iv, seq), { authTagLength: keys.suite.tagLength });
  cipher.setAAD(header, { plaintextLength: inner.length });
  const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([header, body]);
}

describe('every TLS 1.3 suite opens what its sender sealed', () => {
  for (const id of [0x1301, 0x1302, 0x1303, 0x1304, 0x1305]) {
    test(`suite 0x${id.toString(16)}: content, type and padding come back`, () => {
      const s = tls13Suite(id)!;
      const keys = trafficKeys(s, Buffer.alloc(s.hashLength, 0x42));
      const record = seal(keys, 7n, 22, Buffer.from('14000000', 'hex'), 5);
      const opened = openRecord(keys, 7n, record);
      assert.ok(opened.ok);
      assert.deepEqual([opened.contentType, opened.content.toString('hex'), opened.paddingLength], [22, '14000000', 5]);
      assert.equal(openRecord(keys, 8n, record).ok, false, 'the wrong sequence number does not authenticate');
    });
  }

  test('an authenticated but malformed message is reported by name, and decryption goes on', () => {
    const decryptor = new Tls13Decryptor();
    decryptor.noteMessage({ sender: 's2c', type: 'ServerHello', details: { version: 'TLSv1.3', cipher: { id: 0x1301, name: 'TLS_AES_128_GCM_SHA256' } } });
    decryptor.addSecret('SERVER_HANDSHAKE_TRAFFIC_SECRET', secret('SERVER_HANDSHAKE_TRAFFIC_SECRET'));
    const keys = trafficKeys(suite, secret('SERVER_HANDSHAKE_TRAFFIC_SECRET'));
    // EncryptedExtensions claiming 9 bytes of extensions but holding 2.
    const bad = Buffer.from('080000040009aaaa', 'hex');
    const finished = Buffer.concat([Buffer.from('14000020', 'hex'), Buffer.alloc(32, 1)]);
    const out = [...decryptor.push('s2c', seal(keys, 0n, 22, bad), 1), ...decryptor.push('s2c', seal(keys, 1n, 22, finished), 2)];
    assert.deepEqual(out.map((m) => m.message.type), ['EncryptedExtensions', 'Finished']);
    assert.match(String(out[0]?.message.details['malformed']), /truncated/);
  });
});

/** Mutation fuzz: 100,000 seeded transcripts; case i always replays with seed SEED + i. */
const CASES = 100_000;
const SEED = 0x1e13_0001;
const KNOWN = new Set([...HANDSHAKE_TYPES.values(), 'UnknownHandshake', 'Alert', 'ApplicationData', 'EncryptedHandshake', 'DecryptionFailed']);

test(`the decryptor never throws and stays bounded on ${CASES} mutated transcripts`, () => {
  const labels = Object.keys(RFC8448.secrets);
  const protectedRecords = RFC8448.records.filter((r) => r.contentType !== undefined).map((r) => ({ from: r.from, b: bytes(r.record) }));
  const hello = { sender: 's2c' as const, type: 'ServerHello', details: { version: 'TLSv1.3', cipher: { id: 0x1301, name: 'TLS_AES_128_GCM_SHA256' } } };
  let decryptedCases = 0;
  for (let i = 0; i < CASES; i++) {
    const rand = seeded(SEED + i);
    const int = (n: number): number => Math.floor(rand() * n);
    const decryptor = new Tls13Decryptor();
    const events: TimedMessage[] = [];
    const secretsAt = int(protectedRecords.length + 1);
    const feedSecrets = (): void => {
      for (const label of labels) {
        // Now and then a wrong or missing secret.
        const roll = rand();
        if (roll < 0.05) continue;
        const s = secret(label);
        if (roll < 0.1) s[int(s.length)] ^= 1 + int(255);
        events.push(...decryptor.addSecret(label, s));
      }
    };
    events.push(...decryptor.noteMessage(hello));
    for (let r = 0; r < protectedRecords.length; r++) {
      if (r === secretsAt) feedSecrets();
      const { from, b } = protectedRecords[r]!;
      let data = Buffer.from(b);
      const op = int(6);
      if (op === 0) data[int(data.length)] ^= 1 + int(255);
      else if (op === 1) data = data.subarray(0, int(data.length));
      else if (op === 2) data.writeUInt16BE(int(0x10000), 3);
      else if (op === 3) data = Buffer.concat([data, Buffer.from(Array.from({ length: int(64) }, () => int(256)))]);
      // Split into random chunks, as TCP would.
      let at = 0;
      while (at < data.length) {
        const n = 1 + int(data.length - at);
        events.push(...decryptor.push(from, data.subarray(at, at + n), r));
        at += n;
      }
      assert.ok(decryptor.heldBytes <= MAX_PENDING_BYTES + 2 * 70_000, `case ${i}: held ${decryptor.heldBytes}`);
    }
    if (secretsAt === protectedRecords.length) feedSecrets();
    events.push(...decryptor.giveUp('end of case'));
    for (const e of events) assert.ok(KNOWN.has(e.message.type), `case ${i}: unexpected ${e.message.type}`);
    if (events.some((e) => e.message.details['decrypted'] === true)) decryptedCases++;
    assert.equal(decryptor.heldBytes, 0);
  }
  // The mutations leave many records intact: a fuzz that decrypted nothing would test nothing.
  assert.ok(decryptedCases > CASES / 4, `only ${decryptedCases} cases decrypted anything`);
});
