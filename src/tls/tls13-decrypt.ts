/**
 * Sans-IO TLS 1.3 handshake decryption for one connection. The bytes each side sent go in (the
 * same bytes the record parser sees), the hellos the parser read tell it the suite, and the
 * traffic secrets come from the key log of the TLS socket (NSS labels). Out come the messages
 * that travelled encrypted (EncryptedExtensions .. Finished, NewSessionTicket, KeyUpdate,
 * encrypted alerts, the first application data of each side), each marked `decrypted: true`.
 *
 * Records can arrive before their secret (on the leg where we are the TLS client, the server's
 * flight is seen before OpenSSL reads it and logs the keys): they wait, in order, up to
 * MAX_PENDING_BYTES. `giveUp` reports whatever still waits as EncryptedHandshake with a reason.
 * A record that does not authenticate is reported once as `DecryptionFailed` and that sender
 * stops. Never throws. Secrets are dropped as soon as the connection's view is complete.
 */
import { isMitmError } from '../errors.js';
import type { TlsSender, TlsMessage } from './records.js';
import { alertDescriptionName, alertLevelName, handshakeTypeName } from './names.js';
import { RecordFramer, RECORD_HEADER_LENGTH } from './record-framer.js';
import { MAX_CIPHERTEXT_LENGTH, nextTrafficSecret, openRecord, tls13Suite, trafficKeys, type Tls13Suite, type TrafficKeys } from './tls13-keys.js';
import { tls13MessageDetails } from './tls13-messages.js';

/** NSS key log labels of the TLS 1.3 traffic secrets (draft-ietf-tls-keylogfile §3). */
export const TLS13_SECRET_LABELS = [
  'CLIENT_EARLY_TRAFFIC_SECRET',
  'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  'CLIENT_TRAFFIC_SECRET_0',
  'SERVER_TRAFFIC_SECRET_0',
] as const;
export type Tls13SecretLabel = (typeof TLS13_SECRET_LABELS)[number];

/**
 * Encrypted bytes held while their secret is not known yet, per connection: a server flight with
 * the largest chain OpenSSL accepts (100 KiB) fits, a flood does not.
 */
export const MAX_PENDING_BYTES = 256 * 1024;
/** Largest decrypted handshake message reassembled (as the plaintext parser's cap). */
export const MAX_DECRYPTED_MESSAGE = 128 * 1024;
/** A handshake needs under 20 decrypted messages; more means a peer is flooding us. */
const MAX_DECRYPTED_EVENTS = 64;
const HANDSHAKE_HEADER_LENGTH = 4;

const CONTENT_ALERT = 21;
const CONTENT_HANDSHAKE = 22;
const CONTENT_APPLICATION_DATA = 23;
const HS_END_OF_EARLY_DATA = 5;
const HS_ENCRYPTED_EXTENSIONS = 8;
const HS_FINISHED = 20;
const HS_KEY_UPDATE = 24;

type Epoch = 'early' | 'handshake' | 'application';

const EPOCH_SECRETS: Record<TlsSender, Record<Epoch, Tls13SecretLabel | null>> = {
  c2s: { early: 'CLIENT_EARLY_TRAFFIC_SECRET', handshake: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET', application: 'CLIENT_TRAFFIC_SECRET_0' },
  s2c: { early: null, handshake: 'SERVER_HANDSHAKE_TRAFFIC_SECRET', application: 'SERVER_TRAFFIC_SECRET_0' },
};

export interface TimedMessage {
  message: TlsMessage;
  /** The time passed with the bytes of the record it came from. */
  at: number;
}

interface Pending {
  record: Buffer;
  at: number;
}

class Side {
  /** Keeps protected records (application_data type) whole; plaintext ones are the parser's. */
  readonly framer = new RecordFramer((type, length) => type === CONTENT_APPLICATION_DATA && length <= MAX_CIPHERTEXT_LENGTH);
  /** Protected records seen before the ServerHello: 0-RTT data, counted for the early nonce. */
  recordsBeforeHello = 0;
  epoch: Epoch | null = null;
  keys: TrafficKeys | null = null;
  /** The application traffic secret in use, kept to follow a KeyUpdate. */
  appSecret: Buffer | null = null;
  seq = 0n;
  pending: Pending[] = [];
  handshakeBuffer: Buffer = Buffer.alloc(0);
  opened = 0;
  appDataSeen = false;
  stopped = false;

  constructor(readonly sender: TlsSender) {}

  setEpoch(epoch: Epoch, seq = 0n): void {
    this.epoch = epoch;
    this.keys = null;
    this.seq = seq;
  }
}

export class Tls13Decryptor {
  private readonly sides: Record<TlsSender, Side> = { c2s: new Side('c2s'), s2c: new Side('s2c') };
  private readonly secrets = new Map<Tls13SecretLabel, Buffer>();
  private suite: Tls13Suite | null = null;
  private cipherName = '';
  private serverHelloSeen = false;
  private tls13 = false;
  private earlyDataOffered = false;
  private out: TimedMessage[] = [];
  private events = 0;
  private closed = false;
  private pendingBytes = 0;
  /** Why nothing will be decrypted on this connection, once that is known from its ServerHello. */
  unavailable: string | null = null;

  /** TLS 1.3 was negotiated with a suite whose records we can open. */
  get active(): boolean {
    return this.tls13 && this.suite !== null && !this.closed;
  }

  /** Nothing more to learn: both sides reached application data, stopped, or we gave up. */
  get done(): boolean {
    if (this.closed) return true;
    const { c2s, s2c } = this.sides;
    return (c2s.appDataSeen || c2s.stopped) && (s2c.appDataSeen || s2c.stopped);
  }

  /** Encrypted and partly reassembled bytes held (bounded by MAX_PENDING_BYTES plus a message). */
  get heldBytes(): number {
    const { c2s, s2c } = this.sides;
    return this.pendingBytes + c2s.handshakeBuffer.length + s2c.handshakeBuffer.length + c2s.framer.buffered + s2c.framer.buffered;
  }

  /** Tells the decryptor what the plaintext parser read: the hellos fix the suite and phases. */
  noteMessage(message: TlsMessage): TimedMessage[] {
    const d = message.details;
    if (message.type === 'ClientHello') this.earlyDataOffered = d['earlyData'] === true;
    if (message.type === 'ServerHello' && !this.serverHelloSeen) {
      this.serverHelloSeen = true;
      const cipher = d['cipher'] as { id?: unknown; name?: unknown } | undefined;
      const id = typeof cipher?.id === 'number' ? cipher.id : -1;
      this.cipherName = typeof cipher?.name === 'string' ? cipher.name : `0x${id.toString(16)}`;
      this.tls13 = d['version'] === 'TLSv1.3';
      this.suite = this.tls13 ? tls13Suite(id) : null;
      if (!this.active) {
        this.unavailable = this.missing('s2c');
        this.close();
        return [];
      }
      this.sides.s2c.setEpoch('handshake');
      // Whether the client goes on with 0-RTT data is known only from EncryptedExtensions.
      if (!this.earlyDataOffered) this.sides.c2s.setEpoch('handshake');
    }
    return this.drainAll();
  }

  /** A key log line's secret for this connection; may release records that waited for it. */
  addSecret(label: string, secret: Uint8Array): TimedMessage[] {
    if (this.closed || !(TLS13_SECRET_LABELS as readonly string[]).includes(label)) return [];
    this.secrets.set(label as Tls13SecretLabel, Buffer.from(secret));
    return this.drainAll();
  }

  /** Feeds bytes one side sent, with the time they were seen. Never throws. */
  push(sender: TlsSender, chunk: Uint8Array, at: number): TimedMessage[] {
    if (this.done || chunk.length === 0) return [];
    this.out = [];
    try {
      this.consume(this.sides[sender], chunk, at);
    } catch (err) {
      this.stopSide(this.sides[sender]);
      this.emit(sender, 'DecryptionFailed', { reason: `internal decryption error: ${err instanceof Error ? err.message : String(err)}` }, at);
    }
    return this.finish();
  }

  /** Records opened so far, both senders. */
  get opened(): number {
    return this.sides.c2s.opened + this.sides.s2c.opened;
  }

  /** Records that wait for a secret, both senders. */
  get waiting(): number {
    return this.sides.c2s.pending.length + this.sides.s2c.pending.length;
  }

  /**
   * Reports every record still waiting as EncryptedHandshake with the reason its sender
   * cannot be opened (or `reason`), and stops.
   */
  giveUp(reason: string): TimedMessage[] {
    if (this.closed) return [];
    this.out = [];
    for (const side of Object.values(this.sides)) {
      const why = this.missing(side.sender) ?? reason;
      for (const p of side.pending) this.emit(side.sender, 'EncryptedHandshake', { encrypted: true, length: p.record.length - RECORD_HEADER_LENGTH, reason: why }, p.at);
    }
    this.close();
    return this.finish();
  }

  /** Why records of `sender` cannot be opened now, or null when they can. */
  missing(sender: TlsSender): string | null {
    const side = this.sides[sender];
    if (!this.tls13) return 'not a TLS 1.3 connection';
    if (this.suite === null) return `records protected with ${this.cipherName} cannot be decrypted here`;
    if (side.epoch === null) return 'waiting for EncryptedExtensions to tell whether 0-RTT data follows';
    const label = EPOCH_SECRETS[sender][side.epoch];
    if (label === null) return `no ${side.epoch} secret exists for this sender`;
    if (side.epoch === 'application' && side.appSecret !== null) return null;
    return this.secrets.has(label) ? null : `${label} was not logged for this connection`;
  }

  private finish(): TimedMessage[] {
    if (this.done) this.close();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Lets go of every secret and held byte. */
  private close(): void {
    this.closed = true;
    this.secrets.clear();
    this.pendingBytes = 0;
    for (const side of Object.values(this.sides)) {
      side.pending = [];
      side.handshakeBuffer = Buffer.alloc(0);
      side.framer.reset();
      side.keys = null;
      side.appSecret = null;
    }
  }

  private emit(sender: TlsSender, type: string, details: Record<string, unknown>, at: number): void {
    this.events++;
    if (this.events > MAX_DECRYPTED_EVENTS) {
      if (this.events === MAX_DECRYPTED_EVENTS + 1) {
        this.out.push({ message: { sender, type: 'DecryptionFailed', details: { reason: `more than ${MAX_DECRYPTED_EVENTS} decrypted messages; decryption stopped` } }, at });
      }
      this.stopSide(this.sides.c2s);
      this.stopSide(this.sides.s2c);
      return;
    }
    this.out.push({ message: { sender, type, details }, at });
  }

  private stopSide(side: Side): void {
    side.stopped = true;
    for (const p of side.pending) this.pendingBytes -= p.record.length;
    side.pending = [];
    side.handshakeBuffer = Buffer.alloc(0);
    side.framer.reset();
  }

  private consume(side: Side, chunk: Uint8Array, at: number): void {
    for (const { type, length, record } of side.framer.push(chunk)) {
      if (side.stopped || this.closed) return;
      if (type !== CONTENT_APPLICATION_DATA) continue;
      if (record === null) {
        this.stopSide(side);
        this.emit(side.sender, 'DecryptionFailed', { reason: `protected record of ${length} bytes exceeds 2^14 + 256 (RFC 8446 §5.2)`, length }, at);
        return;
      }
      this.protectedRecord(side, record, at);
    }
  }

  private protectedRecord(side: Side, record: Buffer, at: number): void {
    // Once a side sends application data its handshake is over: later records are not looked at.
    if (side.appDataSeen) return;
    if (!this.serverHelloSeen) {
      if (side.sender === 'c2s') side.recordsBeforeHello++;
      return;
    }
    if (side.pending.length > 0 || this.missing(side.sender) !== null) {
      if (this.pendingBytes + record.length > MAX_PENDING_BYTES) {
        this.emit(side.sender, 'EncryptedHandshake', { encrypted: true, length: record.length - RECORD_HEADER_LENGTH, reason: `more than ${MAX_PENDING_BYTES} bytes waited for their keys` }, at);
        this.stopSide(side);
        return;
      }
      side.pending.push({ record, at });
      this.pendingBytes += record.length;
      return;
    }
    this.open(side, record, at);
  }

  private drainAll(): TimedMessage[] {
    this.out = [];
    for (const side of Object.values(this.sides)) this.drain(side);
    // Both sides may have waited: keep the order the records were seen in.
    this.out.sort((a, b) => a.at - b.at);
    return this.finish();
  }

  private drain(side: Side): void {
    while (side.pending.length > 0 && !side.stopped && !side.appDataSeen && !this.closed && this.missing(side.sender) === null) {
      const next = side.pending.shift()!;
      this.pendingBytes -= next.record.length;
      this.open(side, next.record, next.at);
    }
  }

  private currentKeys(side: Side): TrafficKeys {
    if (side.keys !== null) return side.keys;
    const suite = this.suite!;
    const epoch = side.epoch!;
    let secret: Buffer;
    if (epoch === 'application') {
      side.appSecret ??= this.secrets.get(EPOCH_SECRETS[side.sender].application!)!;
      secret = side.appSecret;
    } else {
      secret = this.secrets.get(EPOCH_SECRETS[side.sender][epoch]!)!;
    }
    side.keys = trafficKeys(suite, secret);
    return side.keys;
  }

  private open(side: Side, record: Buffer, at: number): void {
    const d = side.sender;
    const length = record.length - RECORD_HEADER_LENGTH;
    const result = openRecord(this.currentKeys(side), side.seq, record);
    if (!result.ok) {
      // RFC 8446 §4.2.10: a server that rejects 0-RTT skips the client's early records; so do we.
      if (d === 'c2s' && this.earlyDataOffered && side.epoch === 'handshake' && side.opened === 0) {
        this.emit(d, 'ApplicationData', { length, earlyData: true, rejected: true }, at);
        return;
      }
      this.stopSide(side);
      this.emit(d, 'DecryptionFailed', { reason: result.reason, length, epoch: side.epoch }, at);
      return;
    }
    side.seq++;
    side.opened++;
    switch (result.contentType) {
      case CONTENT_HANDSHAKE:
        this.handshake(side, result.content, at);
        return;
      case CONTENT_ALERT: {
        const level = result.content[0] ?? 0;
        const description = result.content[1] ?? 0;
        this.emit(d, 'Alert', { level: alertLevelName(level), description: alertDescriptionName(description), code: description, decrypted: true }, at);
        return;
      }
      case CONTENT_APPLICATION_DATA:
        if (side.epoch === 'early') {
          this.emit(d, 'ApplicationData', { length: result.content.length, earlyData: true, decrypted: true }, at);
          return;
        }
        this.emit(d, 'ApplicationData', { length: result.content.length, decrypted: true }, at);
        side.appDataSeen = true;
        for (const p of side.pending) this.pendingBytes -= p.record.length;
        side.pending = [];
        return;
      default:
        this.stopSide(side);
        this.emit(d, 'DecryptionFailed', { reason: `inner content type ${result.contentType} is not allowed in a protected record (RFC 8446 §5.4)`, length }, at);
    }
  }

  /** Handshake messages may span records and records may hold several (RFC 8446 §5.1). */
  private handshake(side: Side, content: Buffer, at: number): void {
    let buffer = side.handshakeBuffer.length > 0 ? Buffer.concat([side.handshakeBuffer, content]) : content;
    while (buffer.length >= HANDSHAKE_HEADER_LENGTH && !side.stopped) {
      const type = buffer[0]!;
      const bodyLength = buffer.readUIntBE(1, 3);
      if (bodyLength > MAX_DECRYPTED_MESSAGE) {
        this.stopSide(side);
        this.emit(side.sender, 'DecryptionFailed', { reason: `decrypted handshake message of ${bodyLength} bytes exceeds the ${MAX_DECRYPTED_MESSAGE}-byte cap` }, at);
        return;
      }
      if (buffer.length < HANDSHAKE_HEADER_LENGTH + bodyLength) break;
      const body = buffer.subarray(HANDSHAKE_HEADER_LENGTH, HANDSHAKE_HEADER_LENGTH + bodyLength);
      buffer = buffer.subarray(HANDSHAKE_HEADER_LENGTH + bodyLength);
      this.message(side, type, body, at);
    }
    side.handshakeBuffer = side.stopped ? Buffer.alloc(0) : Buffer.from(buffer);
  }

  private message(side: Side, type: number, body: Uint8Array, at: number): void {
    let name: string;
    let details: Record<string, unknown>;
    try {
      ({ name, details } = tls13MessageDetails(type, body));
    } catch (err) {
      if (!isMitmError(err)) throw err;
      // The record authenticated, so its sender wrote this: report it, keep going.
      name = handshakeTypeName(type);
      details = { messageType: type, length: body.length, malformed: err.message };
    }
    this.emit(side.sender, name, { ...details, decrypted: true }, at);
    this.afterMessage(side, type, details);
  }

  /** Key changes that follow a message (RFC 8446 §7.2 and Figure 1). */
  private afterMessage(side: Side, type: number, details: Record<string, unknown>): void {
    if (type === HS_ENCRYPTED_EXTENSIONS && side.sender === 's2c') {
      const c2s = this.sides.c2s;
      if (c2s.epoch === null) {
        // Accepted 0-RTT continues the early key after the records sent before the ServerHello.
        if (details['earlyDataAccepted'] === true) c2s.setEpoch('early', BigInt(c2s.recordsBeforeHello));
        else c2s.setEpoch('handshake');
        this.drain(c2s);
      }
      return;
    }
    if (type === HS_END_OF_EARLY_DATA && side.epoch === 'early') {
      side.setEpoch('handshake');
      return;
    }
    if (type === HS_FINISHED && side.epoch === 'handshake') {
      side.setEpoch('application');
      return;
    }
    if (type === HS_KEY_UPDATE && side.epoch === 'application' && side.appSecret !== null) {
      side.appSecret = nextTrafficSecret(this.suite!, side.appSecret);
      side.setEpoch('application');
    }
  }
}
