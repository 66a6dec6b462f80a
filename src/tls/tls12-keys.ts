/**
 * TLS 1.2 keys from the master secret (sans-IO): the PRF (RFC 5246 §5), the key block and its
 * split for a suite (§6.3), opening the first protected record of a side (§6.2.3: CBC with
 * MAC-then-encrypt, RFC 7366 encrypt-then-MAC, RFC 5288 GCM, RFC 7905 ChaCha20-Poly1305) and
 * the Finished check (§7.4.9). Never throws on hostile bytes.
 */
import { createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { CipherInfo } from '../capture/flow.js';
import { RECORD_HEADER_LENGTH } from './record-framer.js';

/** RFC 5246 §7.4.9: verify_data is 12 bytes for every TLS 1.2 suite defined so far. */
export const VERIFY_DATA_LENGTH = 12;
/** RFC 5288 §3: GCM records carry an 8-byte explicit nonce; the key block gives a 4-byte salt. */
const GCM_EXPLICIT_NONCE = 8;
const AEAD_TAG_LENGTH = 16;
const FINISHED = 20;
const TLS12 = Buffer.from([3, 3]);

type Mode = 'cbc' | 'gcm' | 'chacha20';

/** How a suite's key block is split (RFC 5246 §6.3) and how its records are protected. */
export interface KeyBlockLayout {
  mode: Mode;
  /** node:crypto names. */
  cipher: string;
  macHash: string | null;
  macKeyLength: number;
  keyLength: number;
  /** Key-block IV bytes per side: 0 for TLS 1.2 CBC (explicit per-record IVs), 4 for GCM, 12 for ChaCha20. */
  fixedIvLength: number;
  /** IV or nonce bytes sent in each record. */
  recordIvLength: number;
  blockLength: number;
  /** PRF hash: SHA-384 for *_SHA384 suites, else SHA-256 (RFC 5246 §5, RFC 5289 §3.2). */
  prfHash: 'sha256' | 'sha384';
}

const MAC_HASHES: Record<string, [string, number]> = { 'SHA-1': ['sha1', 20], 'SHA-256': ['sha256', 32], 'SHA-384': ['sha384', 48], MD5: ['md5', 16] };
const CBC_CIPHERS: Record<string, [string, number, number]> = {
  'AES-128-CBC': ['aes-128-cbc', 16, 16],
  'AES-256-CBC': ['aes-256-cbc', 32, 16],
  '3DES-EDE-CBC': ['des-ede3-cbc', 24, 8],
};

export function keyBlockLayout(cipher: CipherInfo): KeyBlockLayout | null {
  const prfHash = cipher.name.endsWith('_SHA384') ? 'sha384' : 'sha256';
  const enc = cipher.encryption;
  if (enc === 'AES-128-GCM' || enc === 'AES-256-GCM') {
    const keyLength = enc === 'AES-128-GCM' ? 16 : 32;
    return { mode: 'gcm', cipher: enc.toLowerCase(), macHash: null, macKeyLength: 0, keyLength, fixedIvLength: 4, recordIvLength: GCM_EXPLICIT_NONCE, blockLength: 0, prfHash };
  }
  if (enc === 'CHACHA20-POLY1305') {
    return { mode: 'chacha20', cipher: 'chacha20-poly1305', macHash: null, macKeyLength: 0, keyLength: 32, fixedIvLength: 12, recordIvLength: 0, blockLength: 0, prfHash };
  }
  const cbc = CBC_CIPHERS[enc];
  const mac = MAC_HASHES[cipher.mac];
  if (cbc === undefined || mac === undefined) return null;
  return { mode: 'cbc', cipher: cbc[0], macHash: mac[0], macKeyLength: mac[1], keyLength: cbc[1], fixedIvLength: 0, recordIvLength: cbc[2], blockLength: cbc[2], prfHash };
}

/** RFC 5246 §5 PRF(secret, label, seed) = P_<hash>(secret, label + seed). */
export function prf(hash: string, secret: Uint8Array, label: string, seed: Uint8Array, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  const out: Buffer[] = [];
  let a: Buffer = createHmac(hash, secret).update(labelSeed).digest();
  let produced = 0;
  while (produced < length) {
    const block = createHmac(hash, secret).update(a).update(labelSeed).digest();
    out.push(block);
    produced += block.length;
    a = createHmac(hash, secret).update(a).digest();
  }
  return Buffer.concat(out).subarray(0, length);
}

export interface SideKeys {
  macKey: Buffer;
  key: Buffer;
  fixedIv: Buffer;
}

export interface KeyBlock {
  length: number;
  client: SideKeys;
  server: SideKeys;
}

/** RFC 5246 §6.3: key_block = PRF(master, "key expansion", server_random + client_random), split in order. */
export function keyBlock(layout: KeyBlockLayout, masterSecret: Uint8Array, clientRandom: Uint8Array, serverRandom: Uint8Array): KeyBlock {
  const length = 2 * (layout.macKeyLength + layout.keyLength + layout.fixedIvLength);
  const block = prf(layout.prfHash, masterSecret, 'key expansion', Buffer.concat([serverRandom, clientRandom]), length);
  let at = 0;
  const take = (n: number): Buffer => block.subarray(at, (at += n));
  const clientMac = take(layout.macKeyLength);
  const serverMac = take(layout.macKeyLength);
  const clientKey = take(layout.keyLength);
  const serverKey = take(layout.keyLength);
  const clientIv = take(layout.fixedIvLength);
  const serverIv = take(layout.fixedIvLength);
  return { length, client: { macKey: clientMac, key: clientKey, fixedIv: clientIv }, server: { macKey: serverMac, key: serverKey, fixedIv: serverIv } };
}

export type Open12Result = { ok: true; content: Buffer } | { ok: false; reason: string };

/** RFC 5246 §6.2.3.1 MAC input: seq_num(8) type(1) version(2) length(2) fragment. */
function macInput(seq: bigint, type: number, length: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeBigUInt64BE(seq, 0);
  b[8] = type;
  TLS12.copy(b, 9);
  b.writeUInt16BE(length, 11);
  return b;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Strips RFC 5246 §6.2.3.2 padding: every padding byte, and the length byte, hold the padding length. */
function unpad(plain: Buffer, macLength: number): { content: Buffer; mac: Buffer } | null {
  if (plain.length === 0) return null;
  const pad = plain[plain.length - 1]!;
  if (pad + 1 + macLength > plain.length) return null;
  for (let i = plain.length - 1 - pad; i < plain.length; i++) if (plain[i] !== pad) return null;
  const end = plain.length - 1 - pad;
  return { content: plain.subarray(0, end - macLength), mac: plain.subarray(end - macLength, end) };
}

/** Opens one protected TLS 1.2 record of `type` with one side's keys. Never throws. */
export function openRecord12(layout: KeyBlockLayout, keys: SideKeys, seq: bigint, record: Uint8Array, encryptThenMac: boolean): Open12Result {
  if (record.length < RECORD_HEADER_LENGTH) return { ok: false, reason: 'record shorter than its header' };
  const type = record[0]!;
  const body = Buffer.from(record.subarray(RECORD_HEADER_LENGTH));
  try {
    if (layout.mode === 'cbc') return openCbc(layout, keys, seq, type, body, encryptThenMac);
    return openAead(layout, keys, seq, type, body);
  } catch {
    return { ok: false, reason: 'the record did not decrypt with the logged master secret' };
  }
}

function openCbc(layout: KeyBlockLayout, keys: SideKeys, seq: bigint, type: number, body: Buffer, encryptThenMac: boolean): Open12Result {
  const macLength = layout.macKeyLength;
  const cipherLength = body.length - layout.recordIvLength - (encryptThenMac ? macLength : 0);
  if (cipherLength <= 0 || cipherLength % layout.blockLength !== 0) return { ok: false, reason: `ciphertext of ${body.length} bytes is not whole ${layout.blockLength}-byte blocks after the IV` };
  const iv = body.subarray(0, layout.recordIvLength);
  const ciphertext = body.subarray(layout.recordIvLength, layout.recordIvLength + cipherLength);
  if (encryptThenMac) {
    // RFC 7366 §3: the MAC covers IV and ciphertext, and is checked before decrypting.
    const protectedPart = body.subarray(0, layout.recordIvLength + cipherLength);
    const expected = createHmac(layout.macHash!, keys.macKey).update(macInput(seq, type, protectedPart.length)).update(protectedPart).digest();
    if (!sameBytes(expected, body.subarray(body.length - macLength))) return { ok: false, reason: 'record MAC (encrypt-then-MAC) does not match: wrong keys or an altered record' };
  }
  const decipher = createDecipheriv(layout.cipher, keys.key, iv).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  const parts = unpad(plain, encryptThenMac ? 0 : macLength);
  if (parts === null) return { ok: false, reason: 'bad CBC padding: wrong keys or an altered record' };
  if (!encryptThenMac) {
    const expected = createHmac(layout.macHash!, keys.macKey).update(macInput(seq, type, parts.content.length)).update(parts.content).digest();
    if (!sameBytes(expected, parts.mac)) return { ok: false, reason: 'record MAC does not match: wrong keys or an altered record' };
  }
  return { ok: true, content: parts.content };
}

function openAead(layout: KeyBlockLayout, keys: SideKeys, seq: bigint, type: number, body: Buffer): Open12Result {
  const cipherLength = body.length - layout.recordIvLength - AEAD_TAG_LENGTH;
  if (cipherLength < 0) return { ok: false, reason: `record of ${body.length} bytes is shorter than its nonce and tag` };
  let nonce: Buffer;
  if (layout.mode === 'gcm') nonce = Buffer.concat([keys.fixedIv, body.subarray(0, GCM_EXPLICIT_NONCE)]);
  else {
    // RFC 7905 §2: the 12-byte IV XOR the left-padded sequence number, as in TLS 1.3.
    nonce = Buffer.from(keys.fixedIv);
    const s = Buffer.alloc(8);
    s.writeBigUInt64BE(seq);
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= s[i]!;
  }
  const ciphertext = body.subarray(layout.recordIvLength, layout.recordIvLength + cipherLength);
  const tag = body.subarray(body.length - AEAD_TAG_LENGTH);
  const aad = macInput(seq, type, cipherLength);
  const decipher =
    layout.mode === 'gcm'
      ? createDecipheriv(layout.cipher as 'aes-128-gcm' | 'aes-256-gcm', keys.key, nonce).setAAD(aad)
      : createDecipheriv('chacha20-poly1305', keys.key, nonce, { authTagLength: AEAD_TAG_LENGTH }).setAAD(aad, { plaintextLength: cipherLength });
  decipher.setAuthTag(tag);
  return { ok: true, content: Buffer.concat([decipher.update(ciphertext), decipher.final()]) };
}

export type FinishedCheck = { verified: true } | { verified: false; reason: string };

/**
 * RFC 5246 §7.4.9: verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11],
 * where the messages are every handshake message before this Finished, headers included.
 */
export function checkFinished(layout: KeyBlockLayout, masterSecret: Uint8Array, label: 'client finished' | 'server finished', transcript: readonly Uint8Array[], message: Uint8Array): FinishedCheck {
  const declared = message.length >= 4 ? (message[1]! << 16) | (message[2]! << 8) | message[3]! : -1;
  if (message[0] !== FINISHED || declared !== VERIFY_DATA_LENGTH || message.length !== 4 + VERIFY_DATA_LENGTH) {
    return { verified: false, reason: `decrypted record is not a ${VERIFY_DATA_LENGTH}-byte Finished message` };
  }
  const hash = createHash(layout.prfHash);
  for (const part of transcript) hash.update(part);
  const expected = prf(layout.prfHash, masterSecret, label, hash.digest(), VERIFY_DATA_LENGTH);
  if (!sameBytes(expected, message.subarray(4))) return { verified: false, reason: 'verify_data does not match the handshake transcript: the handshake was altered or the wrong secret was logged' };
  return { verified: true };
}
