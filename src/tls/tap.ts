/**
 * Connects the sans-IO TLS parser to one leg of a proxied connection: every byte the tapped
 * stream sees is fed to the parser, every message becomes a timestamped HandshakeEvent on the
 * leg's Handshake, and the Handshake's summary fields (SNI, suite, ALPN, certificates...) are
 * filled from what was actually on the wire. With the socket's key log lines (`keylog`) the
 * TLS 1.3 messages that travel encrypted are decrypted and take the place of the opaque rows.
 * After the handshake it stops parsing and lets go of the secrets.
 *
 * A tap made with `deferred` parses after the bytes have moved on: what it is shown (bytes with
 * the time they passed, key log lines) waits in order until the event loop has run the I/O at
 * hand, so the TLS layer answers a flight before we spend time describing it. Anything that reads
 * the result (`complete`, `fail`, `finish`, `flush`) parses what is waiting first.
 */
import type { TLSSocket } from 'node:tls';
import type { ByteObserver } from '../proxy/tapped-stream.js';
import { roundMs, type Handshake, type HandshakeEvent, type Leg, type Sender, type CertificateSummary } from '../capture/flow.js';
import { TlsConnectionParser, type TlsSender, type TlsMessage } from './records.js';
import { cipherByOpenSslName } from './suites.js';
import { parseKeylogLine, rememberKeylog } from './keylog.js';
import { Tls13Decryptor, type TimedMessage } from './tls13-decrypt.js';
import { Tls12Verifier } from './tls12-verify.js';
import { summarizeCertificate } from './messages.js';
import { nowMs } from '../proxy/socket-state.js';

export type TapListener = (event: HandshakeEvent) => void;

/** What a deferred tap was shown and has not parsed yet, in the order it came. */
type Pending = { kind: 'bytes'; direction: 'in' | 'out'; chunk: Buffer; at: number } | { kind: 'keylog'; line: Buffer };

/** Who sent a TLS peer's bytes, per leg: on the client leg we are the TLS server. */
function senderFor(leg: Leg, tlsSender: TlsSender): Sender {
  if (leg === 'client') return tlsSender === 'c2s' ? 'client' : 'proxy';
  return tlsSender === 'c2s' ? 'proxy' : 'server';
}


export class HandshakeTap implements ByteObserver {
  readonly handshake: Handshake;
  private readonly leg: Leg;
  /** hrtime (ms) of the TCP connection's start; event times are relative to it. */
  private readonly origin: number;
  private readonly parser = new TlsConnectionParser();
  private readonly decryptor = new Tls13Decryptor();
  private readonly verifier = new Tls12Verifier();
  /** TLS 1.3 records are reported by the decryptor, not as the parser's opaque rows. */
  private decrypting = false;
  /** TLS 1.2 Finished records are reported by the verifier, not as the parser's opaque rows. */
  private verifying = false;
  /** The parser's rows for records the decryptor took over, kept in case no secret ever comes. */
  private held: TimedMessage[] = [];
  private readonly listener: TapListener | null;
  private readonly deferred: boolean;
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(handshake: Handshake, leg: Leg, origin: number, listener: TapListener | null, options: { deferred?: boolean } = {}) {
    this.handshake = handshake;
    this.leg = leg;
    this.origin = origin;
    this.listener = listener;
    this.deferred = options.deferred === true;
  }

  /** True once the handshake is over and everything shown was parsed: no more bytes are needed. */
  get done(): boolean {
    return this.parser.done && this.decryptor.done && this.verifier.done;
  }

  /** Parses whatever a deferred tap is still holding. */
  flush(): void {
    const pending = this.pending;
    if (pending.length === 0) return;
    this.pending = [];
    for (const item of pending) {
      if (item.kind === 'keylog') this.applyKeylog(item.line);
      else if (!this.done) this.parse(item.direction, item.chunk, item.at);
    }
  }

  private defer(item: Pending): void {
    this.pending.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Adds an event that did not come from the parser (TCPConnect, errors, fallbacks). */
  record(from: Sender, type: string, details: Record<string, unknown>, at: number = nowMs()): HandshakeEvent {
    const event: HandshakeEvent = { t: roundMs(at - this.origin), from, type, details };
    const events = this.handshake.events;
    // A decrypted record may be reported after later ones (it waited for its key): keep time order.
    let i = events.length;
    while (i > 0 && events[i - 1]!.t > event.t) i--;
    events.splice(i, 0, event);
    this.listener?.(event);
    return event;
  }

  /** `at` (hrtime ms) defaults to now; a replayed recording passes its own clock. */
  observe(direction: 'in' | 'out', chunk: Buffer, at: number = nowMs()): void {
    if (this.deferred) this.defer({ kind: 'bytes', direction, chunk, at });
    else this.parse(direction, chunk, at);
  }

  private parse(direction: 'in' | 'out', chunk: Buffer, at: number): void {
    // Client leg: bytes in come from the TLS client. Server leg: bytes in come from the server.
    const sender: TlsSender = this.leg === 'client' ? (direction === 'in' ? 'c2s' : 's2c') : direction === 'in' ? 's2c' : 'c2s';
    for (const m of this.parser.push(sender, chunk)) {
      if (!this.superseded(m)) this.apply(m, at);
      else if (this.decrypting) this.held.push({ message: m, at });
      this.decrypted(this.decryptor.noteMessage(m));
      this.decrypted(this.verifier.noteMessage(m));
      if (m.type === 'ServerHello') {
        this.decrypting = this.decryptor.active;
        this.verifying = this.verifier.active;
      }
    }
    this.decrypted(this.decryptor.push(sender, chunk, at));
    this.decrypted(this.verifier.push(sender, chunk, at));
  }

  /** One line of this socket's key log (Node's `keylog` event). */
  keylog(line: Buffer): void {
    if (this.deferred) this.defer({ kind: 'keylog', line });
    else this.applyKeylog(line);
  }

  private applyKeylog(line: Buffer): void {
    const entry = parseKeylogLine(line);
    if (entry === null) return;
    rememberKeylog(this.handshake, entry);
    this.decrypted(this.decryptor.addSecret(entry.label, entry.secret));
    this.decrypted(this.verifier.addSecret(entry.label, entry.clientRandom, entry.secret));
  }

  private decrypted(messages: TimedMessage[]): void {
    for (const { message, at } of messages) this.apply(message, at);
    if (this.decryptor.done) this.held = [];
  }

  /** The parser's opaque rows are left out where the decryptor or the verifier reports those records. */
  private superseded(message: TlsMessage): boolean {
    if (this.verifying && message.type === 'Finished' && message.details['encrypted'] === true) return true;
    if (this.decrypting) return message.type === 'EncryptedHandshake' || (message.type === 'ApplicationData' && message.details['earlyData'] !== true);
    if (message.type === 'EncryptedHandshake' && this.decryptor.unavailable !== null && this.handshake.version === 'TLSv1.3') {
      message.details['reason'] = this.decryptor.unavailable;
    }
    return false;
  }

  /** No more bytes or secrets will come for this connection (a recording replayed, a socket gone). */
  finish(reason: string): void {
    this.flush();
    this.settle(reason);
  }

  /** Stops decrypting: records still waiting for a secret are reported as EncryptedHandshake. */
  private settle(reason: string): void {
    if (!this.verifier.done) this.decrypted(this.verifier.giveUp(reason));
    if (this.decryptor.done) return;
    this.decrypting = false;
    const held = this.held;
    this.held = [];
    if (this.decryptor.opened > 0) {
      this.decrypted(this.decryptor.giveUp(reason));
      return;
    }
    // Nothing could be opened: the parser's reading of the records (handshake, then data) is the
    // better view, with the reason no secret was there.
    const why = this.decryptor.missing('s2c') ?? reason;
    this.decryptor.giveUp(why);
    for (const { message, at } of held) this.apply({ ...message, details: { ...message.details, reason: why } }, at);
  }

  private apply(message: TlsMessage, at: number): void {
    const hs = this.handshake;
    const d = message.details;
    switch (message.type) {
      case 'ClientHello': {
        if (typeof d['sni'] === 'string') hs.sni = d['sni'];
        if (Array.isArray(d['alpn'])) hs.alpnOffered = (d['alpn'] as unknown[]).filter((x): x is string => typeof x === 'string');
        if (Array.isArray(d['cipherSuites'])) hs.offeredCiphers = (d['cipherSuites'] as unknown[]).filter((x): x is number => typeof x === 'number');
        if (typeof d['ja3'] === 'string') hs.ja3 = d['ja3'];
        if (typeof d['ja3String'] === 'string') hs.ja3String = d['ja3String'];
        if (typeof d['ja4'] === 'string') hs.ja4 = d['ja4'];
        break;
      }
      case 'ServerHello': {
        if (typeof d['version'] === 'string') hs.version = d['version'];
        const cipher = d['cipher'];
        if (cipher && typeof cipher === 'object') hs.cipher = cipher as Handshake['cipher'];
        if (typeof d['alpn'] === 'string') hs.alpn = d['alpn'];
        // RFC 8446 §4.2.11: a pre_shared_key answer means the session was resumed.
        if (d['preSharedKey'] === true) d['resumed'] = true;
        break;
      }
      case 'EncryptedExtensions': {
        if (typeof d['alpn'] === 'string') hs.alpn = d['alpn'];
        break;
      }
      case 'Certificate': {
        if (Array.isArray(d['certificates'])) hs.certificates = d['certificates'] as CertificateSummary[];
        break;
      }
      case 'ServerKeyExchange': {
        if (typeof d['group'] === 'string') hs.group = d['group'];
        break;
      }
      case 'Alert': {
        if (d['level'] === 'fatal' && hs.error === null) hs.error = `${senderFor(this.leg, message.sender)} sent alert ${String(d['description'])}`;
        break;
      }
      case 'Error': {
        if (hs.error === null) hs.error = String(d['reason'] ?? 'unparseable TLS data');
        break;
      }
      default:
        break;
    }
    this.record(senderFor(this.leg, message.sender), message.type, d, at);
  }

  /**
   * Fills what only the TLS API knows once the handshake is over: in TLS 1.3 the certificates,
   * group and more are encrypted on the wire, so the parser cannot see them.
   */
  complete(socket: TLSSocket, presented: () => readonly Uint8Array[] = () => []): void {
    this.flush();
    // Every handshake secret has been logged by now: records still waiting never get theirs.
    if (this.decryptor.waiting > 0 || this.verifier.waiting > 0) this.settle('');
    const hs = this.handshake;
    const protocol = socket.getProtocol();
    if (protocol) hs.version = protocol;
    hs.resumed = socket.isSessionReused();
    const c = socket.getCipher();
    if (c && (hs.cipher === null || hs.cipher.name.startsWith('unknown'))) {
      const info = cipherByOpenSslName(c.standardName ?? c.name) ?? cipherByOpenSslName(c.name);
      if (info) hs.cipher = info;
    }
    const alpn = socket.alpnProtocol;
    if (typeof alpn === 'string') hs.alpn = alpn;
    if (this.leg === 'server') {
      const key = socket.getEphemeralKeyInfo();
      if (key && typeof key === 'object' && 'name' in key && typeof key.name === 'string' && hs.group === null) hs.group = key.name;
    }
    // In TLS 1.3 our own certificate is encrypted on the wire; we know what we sent.
    // Asked only then: the leaf OpenSSL chose costs a certificate object to learn (~0.3 ms).
    if (hs.certificates.length === 0) hs.certificates = presented().map((der) => summarizeCertificate(der));
    if (hs.certificates.length === 0) hs.certificates = chainOf(socket, this.leg);
  }

  fail(reason: string, from: Sender): void {
    this.flush();
    this.settle(`the handshake failed before its keys were logged: ${reason}`);
    if (this.handshake.error === null) this.handshake.error = reason;
    this.record(from, 'Error', { reason });
  }
}

/** Certificate chain as presented by the TLS server of this leg. */
function chainOf(socket: TLSSocket, leg: Leg): CertificateSummary[] {
  const out: CertificateSummary[] = [];
  if (leg === 'server') {
    let cert = socket.getPeerX509Certificate();
    const seen = new Set<string>();
    while (cert && !seen.has(cert.fingerprint256)) {
      seen.add(cert.fingerprint256);
      out.push(summarizeX509(cert));
      cert = cert.issuerCertificate;
    }
  } else {
    const own = socket.getX509Certificate();
    if (own) out.push(summarizeX509(own));
  }
  return out;
}

export function summarizeX509(cert: import('node:crypto').X509Certificate): CertificateSummary {
  const sans = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.length > 0);
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    sans,
    sha256: cert.fingerprint256,
  };
}
