/**
 * Sans-IO TLS 1.2 Finished check for one connection: the plaintext handshake messages form the
 * transcript, the CLIENT_RANDOM key log line gives the master secret, and each side's first
 * protected record (its Finished) is decrypted with the key block and its verify_data checked
 * (RFC 5246 §7.4.9). The result replaces the parser's opaque `Finished` row, with the key block
 * split (sizes only, never key bytes). Bounded, never throws; the secret and the transcript are
 * dropped once both Finished messages are checked.
 */
import type { TlsSender, TlsMessage } from './records.js';
import { RecordFramer, RECORD_HEADER_LENGTH } from './record-framer.js';
import { checkFinished, keyBlock, keyBlockLayout, openRecord12, VERIFY_DATA_LENGTH, type KeyBlock, type KeyBlockLayout } from './tls12-keys.js';
import type { TimedMessage } from './tls13-decrypt.js';
import type { CipherInfo } from '../capture/flow.js';

/** Handshake bytes kept for the transcript: a chain as large as OpenSSL accepts fits. */
export const MAX_TRANSCRIPT_BYTES = 256 * 1024;
/** RFC 5246 §6.2.3: TLSCiphertext.length ≤ 2^14 + 2048. */
const MAX_RECORD = 2 ** 14 + 2048;
const CHANGE_CIPHER_SPEC = 20;
const HANDSHAKE = 22;
const TLS12_VERSION = 0x0303;
const HELLO_REQUEST = Buffer.alloc(4);

interface PendingFinished {
  sender: TlsSender;
  record: Buffer;
  /** Its place in the transcript: everything before it is what its verify_data covers. */
  index: number;
  at: number;
}

export class Tls12Verifier {
  private readonly framers: Record<TlsSender, RecordFramer> = {
    c2s: new RecordFramer((type, length) => type === HANDSHAKE && length <= MAX_RECORD),
    s2c: new RecordFramer((type, length) => type === HANDSHAKE && length <= MAX_RECORD),
  };
  private readonly changedCipher: Record<TlsSender, boolean> = { c2s: false, s2c: false };
  private readonly finishedSeen: Record<TlsSender, boolean> = { c2s: false, s2c: false };
  /** Plaintext handshake messages in order; a Finished waiting to be decrypted holds a null slot. */
  private transcript: Array<Buffer | null> = [];
  private transcriptBytes = 0;
  private pending: PendingFinished[] = [];
  private clientRandom: Buffer | null = null;
  private serverRandom: Buffer | null = null;
  private cipher: CipherInfo | null = null;
  private layout: KeyBlockLayout | null = null;
  private encryptThenMac = false;
  private master: Buffer | null = null;
  private keys: KeyBlock | null = null;
  private checked = 0;
  private closed = false;
  private helloSeen = false;
  private out: TimedMessage[] = [];
  /** Why this connection's Finished messages will not be checked, once known. */
  unavailable: string | null = null;

  /** TLS 1.2 with a suite whose records we can open, and still working. */
  get active(): boolean {
    return this.helloSeen && this.layout !== null && !this.closed;
  }

  get done(): boolean {
    return this.closed;
  }

  get waiting(): number {
    return this.pending.length;
  }

  get heldBytes(): number {
    return this.transcriptBytes + this.pending.reduce((n, p) => n + p.record.length, 0) + this.framers.c2s.buffered + this.framers.s2c.buffered;
  }

  noteMessage(message: TlsMessage): TimedMessage[] {
    if (this.closed) return [];
    const d = message.details;
    if (message.type === 'ClientHello' && typeof d['random'] === 'string') this.clientRandom = Buffer.from(d['random'], 'hex');
    if (message.type === 'ServerHello' && !this.helloSeen) {
      this.helloSeen = true;
      if (typeof d['random'] === 'string') this.serverRandom = Buffer.from(d['random'], 'hex');
      this.cipher = (d['cipher'] as CipherInfo | undefined) ?? null;
      this.encryptThenMac = d['encryptThenMac'] === true;
      if (d['versionId'] !== TLS12_VERSION) return this.stop('only TLS 1.2 Finished messages are checked');
      this.layout = this.cipher ? keyBlockLayout(this.cipher) : null;
      if (this.layout === null) return this.stop(`records protected with ${this.cipher?.name ?? 'an unknown suite'} are not decrypted here`);
    }
    return this.run();
  }

  /** A key log line of this connection; only `CLIENT_RANDOM` for its own client random matters. */
  addSecret(label: string, clientRandom: string, secret: Uint8Array): TimedMessage[] {
    if (this.closed || label !== 'CLIENT_RANDOM') return [];
    if (this.clientRandom !== null && this.clientRandom.toString('hex') !== clientRandom) return [];
    this.master = Buffer.from(secret);
    return this.run();
  }

  push(sender: TlsSender, chunk: Uint8Array, at: number): TimedMessage[] {
    if (this.closed || chunk.length === 0) return [];
    this.out = [];
    for (const { type, length, record } of this.framers[sender].push(chunk)) {
      if (this.closed) break;
      if (type === CHANGE_CIPHER_SPEC) this.changedCipher[sender] = true;
      if (type !== HANDSHAKE) continue;
      if (record === null) {
        this.stopQuietly(`a handshake record of ${length} bytes is over the record size limit`);
        break;
      }
      if (this.changedCipher[sender]) this.finishedRecord(sender, record, at);
      else this.plaintext(record.subarray(RECORD_HEADER_LENGTH));
    }
    this.verify();
    return this.flush();
  }

  /** Reports Finished records still waiting for the master secret as opaque, with `reason`. */
  giveUp(reason: string): TimedMessage[] {
    if (this.closed) return [];
    this.out = [];
    const why = this.master === null ? 'no CLIENT_RANDOM line (master secret) was logged for this connection' : reason;
    for (const p of this.pending) this.emit(p.sender, 'Finished', { encrypted: true, length: p.record.length - RECORD_HEADER_LENGTH, reason: why }, p.at);
    this.close();
    return this.flush();
  }

  private plaintext(body: Buffer): void {
    // RFC 5246 §7.4.1.1: HelloRequest (type 0, empty body) is not part of the transcript.
    if (body.length === HELLO_REQUEST.length && body.equals(HELLO_REQUEST)) return;
    this.transcriptBytes += body.length;
    if (this.transcriptBytes > MAX_TRANSCRIPT_BYTES) {
      this.stopQuietly(`the handshake is larger than ${MAX_TRANSCRIPT_BYTES} bytes`);
      return;
    }
    this.transcript.push(Buffer.from(body));
  }

  private finishedRecord(sender: TlsSender, record: Buffer, at: number): void {
    // Only the first protected handshake record of a side is its Finished.
    if (this.finishedSeen[sender]) return;
    this.finishedSeen[sender] = true;
    this.pending.push({ sender, record, index: this.transcript.length, at });
    this.transcript.push(null);
  }

  private run(): TimedMessage[] {
    this.out = [];
    this.verify();
    return this.flush();
  }

  private verify(): void {
    if (this.closed || this.layout === null || this.master === null || this.clientRandom === null || this.serverRandom === null) return;
    this.keys ??= keyBlock(this.layout, this.master, this.clientRandom, this.serverRandom);
    while (this.pending.length > 0 && !this.closed) {
      const p = this.pending.shift()!;
      this.check(p, this.layout, this.keys, this.master);
    }
    if (this.checked === 2) this.close();
  }

  private check(p: PendingFinished, layout: KeyBlockLayout, keys: KeyBlock, master: Buffer): void {
    const client = p.sender === 'c2s';
    const length = p.record.length - RECORD_HEADER_LENGTH;
    // The Finished is the first record under the new keys: sequence number 0 (RFC 5246 §6.1).
    const opened = openRecord12(layout, client ? keys.client : keys.server, 0n, p.record, this.encryptThenMac && layout.mode === 'cbc');
    this.checked++;
    if (!opened.ok) {
      this.emit(p.sender, 'DecryptionFailed', { reason: opened.reason, length, message: 'Finished' }, p.at);
      return;
    }
    this.transcript[p.index] = opened.content;
    const before = this.transcript.slice(0, p.index);
    const details: Record<string, unknown> = {
      decrypted: true,
      length,
      verifyDataLength: VERIFY_DATA_LENGTH,
      prfHash: layout.prfHash === 'sha384' ? 'SHA-384' : 'SHA-256',
      keyBlock: {
        length: keys.length,
        macKeyLength: layout.macKeyLength,
        keyLength: layout.keyLength,
        fixedIvLength: layout.fixedIvLength,
        recordIvLength: layout.recordIvLength,
      },
    };
    if (layout.mode === 'cbc') details['encryptThenMac'] = this.encryptThenMac;
    if (before.some((b) => b === null)) {
      Object.assign(details, { verified: false, reason: "the other side's Finished, which this one covers, could not be decrypted" });
    } else {
      const result = checkFinished(layout, master, client ? 'client finished' : 'server finished', before as Buffer[], opened.content);
      Object.assign(details, result);
    }
    this.emit(p.sender, 'Finished', details, p.at);
  }

  private emit(sender: TlsSender, type: string, details: Record<string, unknown>, at: number): void {
    this.out.push({ message: { sender, type, details }, at });
  }

  private flush(): TimedMessage[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private stop(reason: string): TimedMessage[] {
    this.unavailable = reason;
    this.close();
    return [];
  }

  /** Gives up checking without reporting rows: the parser's opaque rows stay as they are. */
  private stopQuietly(reason: string): void {
    this.unavailable = reason;
    // Finished records already taken from the parser's view must still be shown.
    for (const p of this.pending) this.emit(p.sender, 'Finished', { encrypted: true, length: p.record.length - RECORD_HEADER_LENGTH, reason }, p.at);
    this.close();
  }

  private close(): void {
    this.closed = true;
    this.master = null;
    this.keys = null;
    this.transcript = [];
    this.transcriptBytes = 0;
    this.pending = [];
    this.framers.c2s.reset();
    this.framers.s2c.reset();
  }
}
