/**
 * Client-leg TLS termination: after CONNECT, the client's ClientHello (already read and
 * parsed) picks the host; a leaf for it is minted and our TLS server handshakes with the client
 * through a tap, so the client leg's messages are recorded from the real bytes. A client that
 * rejects our certificate is explained (pinning or an untrusted CA) and may be passed through
 * from then on.
 */
import tls, { type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { createFlow, roundMs, type CapturedRequest, type Connection, type Flow, type HandshakeEvent } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import type { CertificateMinter } from '../ca/mint.js';
import type { LeafKind } from '../ca/leaf-kind.js';
import { HandshakeTap } from '../tls/tap.js';
import { TappedStream, TLS_STREAM_BUFFER_BYTES } from './tapped-stream.js';
import { nowMs } from './socket-state.js';

/** Alerts a client sends when it does not accept our certificate (RFC 5246 §7.2.2). */
const REJECTION_ALERTS = new Set(['unknown_ca', 'bad_certificate', 'certificate_unknown', 'unsupported_certificate', 'access_denied']);

export const PINNING_EXPLANATION =
  'the client does not trust the mitmscope CA or pins its certificate; install the CA or add --ignore-hosts';

export interface InterceptOptions {
  store: FlowStore;
  minter: CertificateMinter;
  keylog: ((line: Buffer) => void) | null;
  onTlsEvent: ((connection: Connection, event: HandshakeEvent) => void) | null;
  /** Called when a client rejected our certificate for `host`. */
  onRejected: (host: string) => void;
  /** False only to measure what observing costs: TLS then runs on the raw socket. */
  observe: boolean;
  /** ALPN protocols offered to the client, preferred first. */
  alpn: readonly string[];
}

export interface InterceptRequest {
  socket: Socket;
  /** Bytes read while peeking (the whole ClientHello at least); replayed into TLS. */
  buffered: Buffer;
  /** Host for the certificate: SNI, else the CONNECT host. */
  certHost: string;
  /** Which leaves the client's ClientHello accepts. */
  leafKind: LeafKind;
  connectHost: string;
  connectPort: number;
  client: Connection;
  acceptedAt: number;
  /** The CONNECT request as sent (see connect-request.ts). */
  request: CapturedRequest;
}

/** Why a client handshake failed, in words a user can act on. */
function describeClientFailure(err: NodeJS.ErrnoException, tap: HandshakeTap): { reason: string; rejected: boolean } {
  const alertEvent = [...tap.handshake.events].reverse().find((e) => e.type === 'Alert' && e.from === 'client');
  const alert = typeof alertEvent?.details['description'] === 'string' ? alertEvent.details['description'] : null;
  const codeAlert = /ALERT_(\w+)$/.exec(err.code ?? '')?.[1]?.toLowerCase() ?? null;
  const name = alert ?? codeAlert;
  if (name && REJECTION_ALERTS.has(name)) return { reason: `client sent alert ${name}: ${PINNING_EXPLANATION}`, rejected: true };
  const sentCertificate = tap.handshake.events.some((e) => e.from === 'proxy' && (e.type === 'Certificate' || e.type === 'EncryptedHandshake'));
  const clientFinished = tap.handshake.events.some((e) => e.from === 'client' && (e.type === 'Finished' || e.type === 'EncryptedHandshake'));
  if ((err.code === 'ECONNRESET' || err.message === 'client closed') && sentCertificate && !clientFinished) {
    return { reason: `client closed the connection right after our certificate: ${PINNING_EXPLANATION}`, rejected: true };
  }
  if (name) return { reason: `client sent alert ${name}`, rejected: false };
  return { reason: err.message || String(err.code), rejected: false };
}

/** Starts TLS with the client; resolves with the decrypted socket, or null when it failed (recorded). */
export async function interceptTls(req: InterceptRequest, options: InterceptOptions): Promise<TLSSocket | null> {
  const { socket, client } = req;
  const hs = client.tls!;
  const onEvent = options.onTlsEvent;
  // Deferred: our flight leaves before the client's hello is described.
  const tap = new HandshakeTap(hs, 'client', req.acceptedAt, onEvent ? (e) => onEvent(client, e) : null, { deferred: true });
  socket.pause();
  // The TCP connection itself opens the ladder (t = 0 at accept).
  tap.record('client', 'TCPConnect', { address: client.address, port: client.port }, req.acceptedAt);

  let context: tls.SecureContext;
  let leafDer: Buffer;
  try {
    context = await options.minter.contextFor(req.certHost, req.leafKind);
    leafDer = await options.minter.leafDer(req.certHost, req.leafKind === 'ecdsa');
  } catch (err) {
    recordFailure(req, options.store, `could not mint a certificate for ${req.certHost}: ${(err as Error).message}`);
    socket.destroy();
    return null;
  }
  // Let pending I/O run first: the eager upstream connection has usually just connected, and
  // its ClientHello should leave before our handshake takes the event loop for a while.
  await new Promise<void>((resolve) => setImmediate(resolve));

  return new Promise<TLSSocket | null>((resolve) => {
    let transport: Socket;
    if (options.observe) transport = new TappedStream(socket, tap, req.buffered) as unknown as Socket;
    else {
      // Unobserved: only the ClientHello we already read is parsed; TLS owns the socket.
      tap.observe('in', req.buffered);
      socket.unshift(req.buffered);
      transport = socket;
    }
    // `highWaterMark` reaches net.Socket through TLSSocket's options (Node's types omit it).
    const socketOptions: tls.TLSSocketOptions & { highWaterMark?: number } = {
      isServer: true,
      secureContext: context,
      ALPNProtocols: [...options.alpn],
      ...(options.observe ? { highWaterMark: TLS_STREAM_BUFFER_BYTES } : {}),
    };
    const tlsSocket = new tls.TLSSocket(transport, socketOptions);
    if (options.keylog) tlsSocket.on('keylog', options.keylog);
    // The tap decrypts this connection's handshake with its own secrets.
    if (options.observe) tlsSocket.on('keylog', (line: Buffer) => tap.keylog(line));
    let secured = false;
    const onFail = (err: NodeJS.ErrnoException): void => {
      if (secured) return;
      secured = true;
      tap.flush();
      const { reason, rejected } = describeClientFailure(err, tap);
      tap.fail(reason, 'client');
      recordFailure(req, options.store, reason);
      if (rejected) options.onRejected(req.certHost);
      tlsSocket.destroy();
      resolve(null);
    };
    tlsSocket.once('error', onFail);
    tlsSocket.once('close', () => onFail(Object.assign(new Error('client closed'), { code: 'ECONNRESET' })));
    tlsSocket.once('secure', () => {
      if (secured) return;
      secured = true;
      tlsSocket.off('error', onFail);
      tlsSocket.removeAllListeners('close');
      // Later errors (resets mid-exchange) are reported through the HTTP layer.
      tlsSocket.on('error', () => {});
      // A context with both leaves lets OpenSSL choose one for this client.
      // (getX509Certificate wraps OpenSSL's certificate; getCertificate would convert every field.)
      tap.complete(tlsSocket, () => [tlsSocket.getX509Certificate()?.raw ?? leafDer]);
      resolve(tlsSocket);
    });
  });
}

/** A handshake that never got to HTTP is still a flow: users look for it. */
function recordFailure(req: InterceptRequest, store: FlowStore, reason: string): Flow {
  const flow = createFlow({
    kind: 'tls-failure',
    scheme: 'https',
    host: req.connectHost,
    port: req.connectPort,
    request: req.request,
    clientConnection: req.client,
    startedAt: req.client.openedAt,
  });
  flow.state = 'error';
  flow.error = { stage: 'client-tls', code: 'MITM_ERR_CLIENT_TLS', message: `TLS handshake with the client for ${req.certHost} failed: ${reason}` };
  flow.duration = roundMs(nowMs() - req.acceptedAt);
  store.add(flow);
  return flow;
}
