/**
 * TLS 1.3 record protection from a traffic secret (sans-IO): HKDF-Expand-Label (RFC 8446 §7.1),
 * the write key and IV (§7.3), the next-generation secret after a KeyUpdate (§7.2), the
 * per-record nonce (§5.3) and opening one protected record (§5.2, §5.4). node:crypto does the
 * HMAC and the AEADs; only the label encoding and the record framing are written here.
 */
import { createDecipheriv, createHmac } from 'node:crypto';
// The record header (RFC 8446 §5.1) is the AEAD's additional data.
import { RECORD_HEADER_LENGTH } from './record-framer.js';

/** What a TLS 1.3 suite means for record protection (RFC 8446 §B.4). */
export interface Tls13Suite {
  id: number;
  /** node:crypto cipher name. */
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305' | 'aes-128-ccm';
  /** HKDF hash, node:crypto name. */
  hash: 'sha256' | 'sha384';
  hashLength: number;
  keyLength: number;
  tagLength: number;
}

/** RFC 8446 §5.3: every TLS 1.3 AEAD uses a 12-byte nonce (iv_length = max(8, N_MIN) = 12). */
export const IV_LENGTH = 12;
/** RFC 8446 §5.2: TLSCiphertext.length may not exceed 2^14 + 256. */
export const MAX_CIPHERTEXT_LENGTH = 2 ** 14 + 256;
/** RFC 8446 §5.4: TLSInnerPlaintext (content + type + padding) may not exceed 2^14 + 1. */
const MAX_INNER_PLAINTEXT = 2 ** 14 + 1;

const SUITES: ReadonlyMap<number, Tls13Suite> = new Map(
  (
    [
      [0x1301, 'aes-128-gcm', 'sha256', 16, 16],
      [0x1302, 'aes-256-gcm', 'sha384', 32, 16],
      [0x1303, 'chacha20-poly1305', 'sha256', 32, 16],
      [0x1304, 'aes-128-ccm', 'sha256', 16, 16],
      // TLS_AES_128_CCM_8_SHA256: the same cipher with an 8-byte tag (RFC 8446 §B.4).
      [0x1305, 'aes-128-ccm', 'sha256', 16, 8],
    ] as const
  ).map(([id, cipher, hash, keyLength, tagLength]) => [
    id,
    { id, cipher, hash, hashLength: hash === 'sha256' ? 32 : 48, keyLength, tagLength },
  ]),
);

export function tls13Suite(id: number): Tls13Suite | null {
  return SUITES.get(id) ?? null;
}

/** RFC 5869 §2.3 HKDF-Expand with HMAC from node:crypto (its hkdf always extracts first). */
function hkdfExpand(hash: string, prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  let produced = 0;
  for (let i = 1; produced < length; i++) {
    previous = createHmac(hash, prk).update(previous).update(info).update(Uint8Array.of(i)).digest();
    blocks.push(previous);
    produced += previous.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** RFC 8446 §7.1 HKDF-Expand-Label(Secret, Label, Context, Length) with the "tls13 " prefix. */
export function hkdfExpandLabel(hash: string, secret: Uint8Array, label: string, context: Uint8Array, length: number): Buffer {
  const fullLabel = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([
    Uint8Array.of(length >> 8, length & 0xff, fullLabel.length),
    fullLabel,
    Uint8Array.of(context.length),
    context,
  ]);
  return hkdfExpand(hash, secret, info, length);
}

export interface TrafficKeys {
  suite: Tls13Suite;
  key: Buffer;
  iv: Buffer;
}

/** RFC 8446 §7.3: [sender]_write_key and [sender]_write_iv from a traffic secret. */
export function trafficKeys(suite: Tls13Suite, secret: Uint8Array): TrafficKeys {
  const empty = new Uint8Array(0);
  return {
    suite,
    key: hkdfExpandLabel(suite.hash, secret, 'key', empty, suite.keyLength),
    iv: hkdfExpandLabel(suite.hash, secret, 'iv', empty, IV_LENGTH),
  };
}

/** RFC 8446 §7.2: application_traffic_secret_N+1 after a KeyUpdate. */
export function nextTrafficSecret(suite: Tls13Suite, secret: Uint8Array): Buffer {
  return hkdfExpandLabel(suite.hash, secret, 'traffic upd', new Uint8Array(0), suite.hashLength);
}

/** RFC 8446 §5.3: the 64-bit record sequence number, left-padded, XORed into the IV. */
export function recordNonce(iv: Uint8Array, seq: bigint): Buffer {
  const nonce = Buffer.from(iv);
  const padded = Buffer.alloc(IV_LENGTH);
  padded.writeBigUInt64BE(seq, IV_LENGTH - 8);
  for (let i = 0; i < IV_LENGTH; i++) nonce[i]! ^= padded[i]!;
  return nonce;
}

export type OpenResult =
  | { ok: true; contentType: number; content: Buffer; paddingLength: number }
  | { ok: false; reason: string };

/**
 * Opens one whole protected record (header + encrypted_record) with the keys and sequence number
 * its sender used: the header is the additional data (§5.2), then the inner content type is the
 * last non-zero byte and zeros after it are padding (§5.4). Never throws.
 */
export function openRecord(keys: TrafficKeys, seq: bigint, record: Uint8Array): OpenResult {
  const { suite } = keys;
  if (record.length < RECORD_HEADER_LENGTH) return { ok: false, reason: 'record shorter than its header' };
  const header = record.subarray(0, RECORD_HEADER_LENGTH);
  const body = record.subarray(RECORD_HEADER_LENGTH);
  if (body.length > MAX_CIPHERTEXT_LENGTH) return { ok: false, reason: `ciphertext of ${body.length} bytes exceeds 2^14 + 256 (RFC 8446 §5.2)` };
  if (body.length < suite.tagLength + 1) return { ok: false, reason: `ciphertext of ${body.length} bytes is shorter than the ${suite.tagLength}-byte tag plus a content type` };
  const ciphertext = body.subarray(0, body.length - suite.tagLength);
  const tag = body.subarray(body.length - suite.tagLength);
  let plain: Buffer;
  try {
    const nonce = recordNonce(keys.iv, seq);
    const options = { authTagLength: suite.tagLength };
    const cipher = suite.cipher;
    // CCM must know the plaintext length before the additional data (node:crypto docs).
    const aad = { plaintextLength: ciphertext.length };
    const decipher =
      cipher === 'aes-128-ccm'
        ? createDecipheriv(cipher, keys.key, nonce, options).setAAD(header, aad)
        : cipher === 'chacha20-poly1305'
          ? createDecipheriv(cipher, keys.key, nonce, options).setAAD(header, aad)
          : createDecipheriv(cipher, keys.key, nonce, options).setAAD(header);
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    return { ok: false, reason: `authentication failed (record ${seq}): wrong key, wrong sequence number, or the record was altered` };
  }
  if (plain.length > MAX_INNER_PLAINTEXT) return { ok: false, reason: `inner plaintext of ${plain.length} bytes exceeds 2^14 + 1 (RFC 8446 §5.4)` };
  let end = plain.length;
  while (end > 0 && plain[end - 1] === 0) end--;
  if (end === 0) return { ok: false, reason: 'inner plaintext is all padding, no content type (RFC 8446 §5.4)' };
  return { ok: true, contentType: plain[end - 1]!, content: plain.subarray(0, end - 1), paddingLength: plain.length - end };
}
