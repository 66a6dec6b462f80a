/**
 * Sans-IO TLS record and handshake-message parser: the bytes each sender on one connection sent go
 * in, named messages come out (model: ws/lib/receiver.js). It never decrypts and never throws:
 * anything that is not TLS, or breaks the framing, ends the connection's parse with one `Error`.
 *
 * What can be seen on the wire:
 * - TLS ≤1.2: every handshake message up to each sender's ChangeCipherSpec is plaintext; the next
 *   handshake record from that sender is its (encrypted) `Finished`, later ones `EncryptedHandshake`.
 * - TLS 1.3 (RFC 8446 §5): after the ServerHello every record says application_data (23), so
 *   handshake and data cannot be told apart by type. Heuristic: the server's encrypted records
 *   before the client's first encrypted record are its EncryptedExtensions..Finished flight
 *   (`EncryptedHandshake`); the client's first encrypted record is its Finished
 *   (`EncryptedHandshake`); everything after that is `ApplicationData`. A client that sends a
 *   certificate spends more than one record on its flight; those extra records, and the server's
 *   post-handshake NewSessionTickets, are reported as (the first) ApplicationData.
 * - Only the first ApplicationData record of each sender is reported; once both senders have sent one
 *   (or a fatal alert or an Error happened) the parser is `done` and ignores further bytes.
 *
 * Memory per sender: a 5-byte record header, a 2-byte alert, and one handshake message being
 * reassembled, capped at MAX_HANDSHAKE_MESSAGE; encrypted and application records are counted,
 * never stored.
 */
import type { CipherInfo } from '../capture/flow.js';
import { isMitmError } from '../errors.js';
import { ja3, ja4 } from './fingerprint.js';
import { isTls13, readClientHello, readServerHello, type ClientHello } from './hello.js';
import {
  certificateDetails,
  certificateRequestDetails,
  certificateStatusDetails,
  certificateVerifyDetails,
  clientKeyExchangeDetails,
  emptyBodyDetails,
  newSessionTicketDetails,
  serverKeyExchangeDetails,
  type HandshakeContext,
} from './messages.js';
import { alertDescriptionName, alertLevelName, handshakeTypeName, HANDSHAKE_TYPES } from './names.js';

export { parseClientHello, type ClientHello, type ServerHello, type ExtensionSummary } from './hello.js';

export type TlsSender = 'c2s' | 's2c'; // c2s = bytes sent by the TLS client (the ClientHello sender)

export interface TlsMessage {
  sender: TlsSender;
  type: string;
  details: Record<string, unknown>;
}

/** RFC 8446 §5.1 TLSPlaintext header: type(1) version(2) length(2). */
const RECORD_HEADER_LENGTH = 5;
/** RFC 5246 §6.2.3: TLSCiphertext.length may not exceed 2^14 + 2048 (the most any version allows). */
export const MAX_RECORD_LENGTH = 2 ** 14 + 2048;
/**
 * Largest handshake message reassembled; bigger ones are skipped and reported by length. Above
 * OpenSSL's default limit on a peer's certificate list (SSL_MAX_CERT_LIST_DEFAULT, 100 KiB), so
 * every chain OpenSSL would accept is parsed whole.
 */
export const MAX_HANDSHAKE_MESSAGE = 128 * 1024;
/** TLS records carry SSLv3/TLS versions only: major version 3 (RFC 5246 Appendix E). */
const TLS_MAJOR_VERSION = 3;
/** SSLv2 record header: high bit set in the first length byte; message type 1 = CLIENT-HELLO. */
const SSL2_LENGTH_FLAG = 0x80;
const SSL2_CLIENT_HELLO = 1;
const CHANGE_CIPHER_SPEC = 20;
const ALERT = 21;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const HEARTBEAT = 24;
const HANDSHAKE_HEADER_LENGTH = 4;
/** RFC 5246 §7.2: AlertLevel warning(1), fatal(2); nothing else is an alert. */
const WARNING = 1;
const FATAL = 2;
/**
 * A real handshake yields under 30 messages; a peer sending a stream of tiny handshake messages or
 * warning alerts could otherwise grow the connection's event list without bound.
 */
export const MAX_MESSAGES = 256;

/** How the body of the record being read is consumed. */
type BodyMode = 'handshake' | 'alert' | 'opaque';

class SenderState {
  readonly header = new Uint8Array(RECORD_HEADER_LENGTH);
  headerFill = 0;
  inRecord = false;
  recordType = 0;
  recordLength = 0;
  recordRemaining = 0;
  mode: BodyMode = 'opaque';
  firstRecord = true;
  /** Handshake message being reassembled. */
  readonly hsHeader = new Uint8Array(HANDSHAKE_HEADER_LENGTH);
  hsHeaderFill = 0;
  hsType = 0;
  hsLength = 0;
  hsChunks: Uint8Array[] = [];
  hsFill = 0;
  /** Bytes of an oversized handshake message still to skip. */
  hsSkipping = false;
  alertFirst = -1;
  /** TLS ≤1.2: this sender sent ChangeCipherSpec, so its handshake and alert records are encrypted. */
  encrypted = false;
  encryptedHandshakeRecords = 0;
  appDataSeen = false;

  constructor(readonly sender: TlsSender) {}

  get buffered(): number {
    return this.headerFill + this.hsHeaderFill + (this.hsSkipping ? 0 : this.hsFill) + (this.alertFirst >= 0 ? 1 : 0);
  }

  resetHandshake(): void {
    this.hsHeaderFill = 0;
    this.hsChunks = [];
    this.hsFill = 0;
    this.hsSkipping = false;
  }
}

export class TlsConnectionParser {
  private readonly states: Record<TlsSender, SenderState> = { c2s: new SenderState('c2s'), s2c: new SenderState('s2c') };
  private finished = false;
  private serverHelloSeen = false;
  private helloRetried = false;
  private tls13 = false;
  private clientEncryptedSeen = false;
  private earlyDataOffered = false;
  private earlyDataReported = false;
  private readonly ctx: HandshakeContext = { cipher: null, versionId: 0 };
  private out: TlsMessage[] = [];
  private emitted = 0;

  /** True once both senders have sent ApplicationData (handshake over) or a fatal error/alert happened: the tap stops feeding. */
  get done(): boolean {
    return this.finished || (this.states.c2s.appDataSeen && this.states.s2c.appDataSeen);
  }

  /** Bytes held between calls (record header, partial handshake message, half an alert). */
  get bufferedBytes(): number {
    return this.states.c2s.buffered + this.states.s2c.buffered;
  }

  /** The suite the ServerHello chose, once seen. */
  get cipher(): CipherInfo | null {
    return this.ctx.cipher;
  }

  /** Feed bytes seen in one sender; returns the messages completed by these bytes, in order. Never throws. */
  push(sender: TlsSender, chunk: Uint8Array): TlsMessage[] {
    if (this.done || chunk.length === 0) return [];
    this.out = [];
    try {
      this.consume(this.states[sender], chunk);
    } catch (err) {
      // Parsers report malformed input as MITM_ERR_TLS_PARSE; anything else is our bug, still contained.
      const reason = isMitmError(err) ? err.message : `internal parser error: ${err instanceof Error ? err.message : String(err)}`;
      this.fail(sender, reason);
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  private emit(sender: TlsSender, type: string, details: Record<string, unknown>): void {
    if (this.finished) return;
    this.emitted++;
    if (this.emitted > MAX_MESSAGES) {
      this.fail(sender, `more than ${MAX_MESSAGES} TLS messages on one connection; parsing stopped`);
      return;
    }
    this.out.push({ sender, type, details });
  }

  private fail(sender: TlsSender, reason: string, extra: Record<string, unknown> = {}): void {
    if (this.finished) return;
    this.out.push({ sender, type: 'Error', details: { reason, ...extra } });
    this.stop();
  }

  /** Ends the connection's parse and lets go of everything buffered. */
  private stop(): void {
    this.finished = true;
    for (const state of Object.values(this.states)) {
      state.resetHandshake();
      state.headerFill = 0;
      state.alertFirst = -1;
    }
  }

  private consume(state: SenderState, chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (!state.inRecord) {
        const take = Math.min(RECORD_HEADER_LENGTH - state.headerFill, chunk.length - i);
        state.header.set(chunk.subarray(i, i + take), state.headerFill);
        state.headerFill += take;
        i += take;
        if (state.headerFill < RECORD_HEADER_LENGTH) return;
        state.headerFill = 0;
        if (!this.startRecord(state)) return;
        if (state.recordRemaining === 0) this.endRecord(state);
        continue;
      }
      const take = Math.min(state.recordRemaining, chunk.length - i);
      const body = chunk.subarray(i, i + take);
      i += take;
      state.recordRemaining -= take;
      if (state.mode === 'handshake') this.feedHandshake(state, body);
      else if (state.mode === 'alert') this.feedAlert(state, body);
      if (this.done) return;
      if (state.recordRemaining === 0) this.endRecord(state);
    }
  }

  /** Validates the 5-byte header (RFC 8446 §5.1); false when the connection's parse ended. */
  private startRecord(state: SenderState): boolean {
    const h = state.header;
    const type = h[0]!;
    const length = (h[3]! << 8) | h[4]!;
    const notTls = classifyHeader(h, state.sender, state.firstRecord);
    if (notTls !== null) {
      this.fail(state.sender, notTls);
      return false;
    }
    if (length > MAX_RECORD_LENGTH) {
      this.fail(state.sender, `record length ${length} exceeds the ${MAX_RECORD_LENGTH}-byte maximum (RFC 5246 §6.2.3)`);
      return false;
    }
    state.firstRecord = false;
    state.inRecord = true;
    state.recordType = type;
    state.recordLength = length;
    state.recordRemaining = length;
    // After its ChangeCipherSpec a TLS ≤1.2 sender encrypts handshake and alert records. TLS 1.3 never
    // does (RFC 8446 §5: encrypted ones travel as application_data), so those types stay plaintext.
    if (type === HANDSHAKE && !state.encrypted) state.mode = 'handshake';
    else if (type === ALERT && !state.encrypted) state.mode = 'alert';
    else state.mode = 'opaque';
    return true;
  }

  private endRecord(state: SenderState): void {
    state.inRecord = false;
    const d = state.sender;
    const length = state.recordLength;
    switch (state.recordType) {
      case CHANGE_CIPHER_SPEC:
        state.resetHandshake();
        // RFC 8446 §D.4: TLS 1.3 peers send a dummy CCS for middleboxes; it changes nothing. A CCS
        // before any ServerHello (or after a HelloRetryRequest) can only be that dummy.
        if (this.serverHelloSeen && !this.tls13) {
          state.encrypted = true;
          this.emit(d, 'ChangeCipherSpec', { length });
        } else {
          this.emit(d, 'ChangeCipherSpec', { length, middleboxCompatibility: true });
        }
        return;
      case HANDSHAKE:
        if (state.mode === 'opaque') {
          state.encryptedHandshakeRecords++;
          this.emit(d, state.encryptedHandshakeRecords === 1 ? 'Finished' : 'EncryptedHandshake', { encrypted: true, length });
        }
        return;
      case ALERT:
        if (state.mode === 'opaque') this.emit(d, 'Alert', { encrypted: true, length });
        return;
      case APPLICATION_DATA:
        this.applicationRecord(state, length);
        return;
      case HEARTBEAT:
        this.emit(d, 'Heartbeat', { length, encrypted: state.encrypted || this.tls13 });
        return;
      default:
        return;
    }
  }

  private applicationRecord(state: SenderState, length: number): void {
    const d = state.sender;
    if (this.tls13 && !this.clientEncryptedSeen) {
      if (d === 'c2s') this.clientEncryptedSeen = true;
      this.emit(d, 'EncryptedHandshake', { encrypted: true, length });
      return;
    }
    if (d === 'c2s' && !this.serverHelloSeen && this.earlyDataOffered) {
      // RFC 8446 §4.2.10: 0-RTT data follows the ClientHello before any ServerHello.
      if (!this.earlyDataReported) this.emit(d, 'ApplicationData', { length, earlyData: true });
      this.earlyDataReported = true;
      return;
    }
    if (state.appDataSeen) return;
    state.appDataSeen = true;
    this.emit(d, 'ApplicationData', { length });
  }

  private feedAlert(state: SenderState, body: Uint8Array): void {
    for (const byte of body) {
      if (this.finished) return;
      if (state.alertFirst < 0) {
        state.alertFirst = byte;
        continue;
      }
      const level = state.alertFirst;
      state.alertFirst = -1;
      if (level !== WARNING && level !== FATAL) {
        this.fail(state.sender, `malformed Alert: level ${level} is neither warning nor fatal`, { message: 'Alert' });
        return;
      }
      this.emit(state.sender, 'Alert', {
        level: alertLevelName(level),
        description: alertDescriptionName(byte),
        code: byte,
      });
      if (level === FATAL) {
        this.stop();
        return;
      }
    }
  }

  /** Streams record bytes into the handshake reassembler (RFC 8446 §5.1: messages may span records). */
  private feedHandshake(state: SenderState, body: Uint8Array): void {
    let i = 0;
    while (i < body.length && !this.done) {
      if (state.hsHeaderFill < HANDSHAKE_HEADER_LENGTH) {
        const take = Math.min(HANDSHAKE_HEADER_LENGTH - state.hsHeaderFill, body.length - i);
        state.hsHeader.set(body.subarray(i, i + take), state.hsHeaderFill);
        state.hsHeaderFill += take;
        i += take;
        if (state.hsHeaderFill < HANDSHAKE_HEADER_LENGTH) return;
        const h = state.hsHeader;
        state.hsType = h[0]!;
        state.hsLength = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
        state.hsSkipping = state.hsLength > MAX_HANDSHAKE_MESSAGE;
        if (state.hsLength === 0) this.endMessage(state, new Uint8Array(0));
        continue;
      }
      const take = Math.min(state.hsLength - state.hsFill, body.length - i);
      if (!state.hsSkipping) state.hsChunks.push(body.slice(i, i + take));
      state.hsFill += take;
      i += take;
      if (state.hsFill === state.hsLength) {
        const message = state.hsSkipping ? new Uint8Array(0) : Buffer.concat(state.hsChunks, state.hsLength);
        this.endMessage(state, message);
      }
    }
  }

  private endMessage(state: SenderState, body: Uint8Array): void {
    const type = state.hsType;
    const skipped = state.hsSkipping;
    const length = state.hsLength;
    state.resetHandshake();
    const name = HANDSHAKE_TYPES.has(type) ? handshakeTypeName(type) : 'UnknownHandshake';
    if (skipped) {
      if (type === 1 || type === 2) {
        this.fail(state.sender, `${name} of ${length} bytes exceeds the ${MAX_HANDSHAKE_MESSAGE}-byte reassembly cap`);
        return;
      }
      this.emit(state.sender, name, { length, skipped: `larger than the ${MAX_HANDSHAKE_MESSAGE}-byte reassembly cap` });
      return;
    }
    try {
      this.handshakeMessage(state.sender, type, name, body);
    } catch (err) {
      if (!isMitmError(err)) throw err;
      this.fail(state.sender, `malformed ${name}: ${err.message}`, { message: name });
    }
  }

  private handshakeMessage(sender: TlsSender, type: number, name: string, body: Uint8Array): void {
    switch (type) {
      case 1:
        this.clientHello(sender, readClientHello(body));
        return;
      case 2:
        this.serverHello(sender, body);
        return;
      case 0:
      case 14:
        this.emit(sender, name, emptyBodyDetails(body, name));
        return;
      case 4:
        this.emit(sender, name, newSessionTicketDetails(body));
        return;
      case 11:
        this.emit(sender, name, certificateDetails(body));
        return;
      case 12:
        this.emit(sender, name, serverKeyExchangeDetails(body, this.ctx));
        return;
      case 13:
        this.emit(sender, name, certificateRequestDetails(body, this.ctx));
        return;
      case 15:
        this.emit(sender, name, certificateVerifyDetails(body, this.ctx));
        return;
      case 16:
        this.emit(sender, name, clientKeyExchangeDetails(body, this.ctx));
        return;
      case 20:
        this.emit(sender, name, { encrypted: false, length: body.length });
        return;
      case 22:
        this.emit(sender, name, certificateStatusDetails(body));
        return;
      default:
        this.emit(sender, name, { messageType: type, length: body.length });
    }
  }

  private clientHello(sender: TlsSender, hello: ClientHello): void {
    this.earlyDataOffered = hello.earlyData;
    const fp = ja3(hello);
    this.emit(sender, 'ClientHello', { ...hello, ja3: fp.hash, ja3String: fp.string, ja4: ja4(hello, 'tcp') });
  }

  private serverHello(sender: TlsSender, body: Uint8Array): void {
    const hello = readServerHello(body);
    if (hello.helloRetryRequest) {
      // RFC 8446 §4.1.4: the client answers with a second, still plaintext, ClientHello.
      this.helloRetried = true;
      this.emit(sender, 'HelloRetryRequest', { ...hello });
      return;
    }
    this.serverHelloSeen = true;
    this.ctx.cipher = hello.cipher;
    this.ctx.versionId = hello.versionId;
    this.tls13 = isTls13(hello.versionId) || this.helloRetried;
    this.emit(sender, 'ServerHello', { ...hello });
  }
}

/** An HTTP request line starts with an upper-case method token (`GET `, `CONNECT`, `PRI *`). */
const HTTP_REQUEST = /^[A-Z]{3,} |^[A-Z]{5}/;

function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * Why a record header is not TLS, or null when it is. On a sender's first record it also names
 * the usual suspects: an SSLv2-format hello, or plain HTTP where TLS was expected.
 */
function classifyHeader(h: Uint8Array, sender: TlsSender, first: boolean): string | null {
  const type = h[0]!;
  if (first) {
    if ((type & SSL2_LENGTH_FLAG) !== 0 && h[2] === SSL2_CLIENT_HELLO) return 'SSLv2-compatible ClientHello is not supported';
    const text = ascii(h.subarray(0, RECORD_HEADER_LENGTH));
    if (text.startsWith('HTTP/')) return sender === 's2c' ? 'plain HTTP response where TLS was expected' : 'plain HTTP sent to a TLS port';
    if (HTTP_REQUEST.test(text)) return 'plain HTTP sent to a TLS port';
  }
  if (type < CHANGE_CIPHER_SPEC || type > HEARTBEAT) return `not a TLS record: content type 0x${type.toString(16).padStart(2, '0')}`;
  if (h[1] !== TLS_MAJOR_VERSION) return `not a TLS record: version 0x${h[1]!.toString(16).padStart(2, '0')}${h[2]!.toString(16).padStart(2, '0')}`;
  return null;
}

export type PeekResult =
  | { status: 'need-more' }
  | { status: 'ok'; hello: ClientHello; raw: Uint8Array }
  | { status: 'not-tls'; reason: string };

/**
 * The ClientHello from the first bytes of a connection, possibly spread over several records
 * (mitmproxy's parse_client_hello: nothing until the whole hello is there). `raw` is the
 * handshake message itself (4-byte header and body), reassembled.
 */
export function peekClientHello(bytes: Uint8Array): PeekResult {
  const parts: Uint8Array[] = [];
  let collected = 0;
  let offset = 0;
  while (offset + RECORD_HEADER_LENGTH <= bytes.length) {
    const header = bytes.subarray(offset, offset + RECORD_HEADER_LENGTH);
    const notTls = classifyHeader(header, 'c2s', offset === 0);
    if (notTls !== null) return { status: 'not-tls', reason: notTls };
    if (header[0] !== HANDSHAKE) return { status: 'not-tls', reason: `expected a handshake record, got content type ${header[0]}` };
    const length = (header[3]! << 8) | header[4]!;
    if (length > MAX_RECORD_LENGTH) return { status: 'not-tls', reason: `record length ${length} exceeds the ${MAX_RECORD_LENGTH}-byte maximum` };
    const end = offset + RECORD_HEADER_LENGTH + length;
    if (end > bytes.length) break;
    parts.push(bytes.subarray(offset + RECORD_HEADER_LENGTH, end));
    collected += length;
    offset = end;
    if (collected < HANDSHAKE_HEADER_LENGTH) continue;
    const message = Buffer.concat(parts, collected);
    if (message[0] !== 1) return { status: 'not-tls', reason: `first handshake message is ${handshakeTypeName(message[0]!)}, not ClientHello` };
    const bodyLength = (message[1]! << 16) | (message[2]! << 8) | message[3]!;
    if (bodyLength > MAX_HANDSHAKE_MESSAGE) return { status: 'not-tls', reason: `ClientHello of ${bodyLength} bytes exceeds the ${MAX_HANDSHAKE_MESSAGE}-byte cap` };
    if (collected < HANDSHAKE_HEADER_LENGTH + bodyLength) continue;
    const raw = message.subarray(0, HANDSHAKE_HEADER_LENGTH + bodyLength);
    try {
      return { status: 'ok', hello: readClientHello(raw.subarray(HANDSHAKE_HEADER_LENGTH)), raw: Uint8Array.from(raw) };
    } catch (err) {
      return { status: 'not-tls', reason: `malformed ClientHello: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  // Fewer than 5 bytes: wait, unless they cannot begin a handshake record nor anything we name better.
  if (offset === 0 && bytes.length > 0 && bytes.length < RECORD_HEADER_LENGTH) {
    const first = bytes[0]!;
    if (first === HANDSHAKE) {
      if (bytes.length > 1 && bytes[1] !== TLS_MAJOR_VERSION) return { status: 'not-tls', reason: `not a TLS record: version byte 0x${bytes[1]!.toString(16).padStart(2, '0')}` };
    } else if ((first & SSL2_LENGTH_FLAG) === 0 && !/^[A-Z]+ ?$/.test(ascii(bytes))) {
      return { status: 'not-tls', reason: `not a TLS record: content type 0x${first.toString(16).padStart(2, '0')}` };
    }
  }
  return { status: 'need-more' };
}
