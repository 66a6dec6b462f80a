/**
 * Upstream HTTP/2 sessions: one TLS connection per origin (and SNI) carries every stream to it.
 * The first request to an origin offers `h2` and `http/1.1`; the server's choice is remembered.
 * A server that picks h2 over TLS 1.2 with a suite RFC 9113 §9.2.2 forbids is answered on a new
 * connection offering only http/1.1, and the TLS view of that connection says why. Server push is
 * refused (SETTINGS_ENABLE_PUSH 0). The frames each session carries are recorded by a frame tap.
 */
import http2, { type ClientHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { roundMs, type CipherInfo, type Connection, type HandshakeEvent } from '../../capture/flow.js';
import { poolKey, type Upstream, type UpstreamTarget } from '../upstream.js';
import { getUpstream, nowMs } from '../socket-state.js';
import { H2TappedStream } from './frame-stream.js';
import { bareHost } from '../hosts.js';
import { MitmError } from '../../errors.js';
import { H2FrameTap, type FramesChange } from './frame-tap.js';

/** Origins whose protocol choice is remembered. */
const MAX_ORIGINS = 512;
/** An upstream session with no open stream is closed after this long (like idle keep-alive sockets). */
const IDLE_SESSION_MS = 30_000;
/** Session-level receive window: large enough that one stream's slow reader does not stall the rest. */
const SESSION_WINDOW = 16 * 1024 * 1024;
/** Per-stream receive window: what one stream may have in flight towards a slow client. */
const STREAM_WINDOW = 1024 * 1024;

/** Node's code for TLS alert 120, sent by a server that speaks none of the offered protocols (RFC 7301 §3.2). */
const NO_APPLICATION_PROTOCOL = 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';

/** What the proxy offers by ALPN on either leg when HTTP/2 is on, preferred first. */
export const H2_ALPN: readonly string[] = ['h2', 'http/1.1'];

/** Whether a parsed ClientHello offers h2 by ALPN. */
export function clientOffersH2(hello: unknown): boolean {
  const alpn = (hello as { alpn?: unknown } | null)?.alpn;
  return Array.isArray(alpn) && alpn.includes('h2');
}

export type Route = { kind: 'h2'; session: ClientHttp2Session; socket: TLSSocket; tap: H2FrameTap } | { kind: 'h1'; note: string | null };

export interface SessionPoolOptions {
  /** Every TLS-view event added by the pool (the ALPN decision). */
  onTlsEvent: ((connection: Connection, event: HandshakeEvent) => void) | null;
  /** What each chunk of an upstream session's frames changed (see FrameTapListener). */
  onFrames?: ((connection: Connection, change: FramesChange) => void) | null;
}

/**
 * RFC 9113 §9.2.2 and Appendix A: over TLS 1.2, HTTP/2 needs an ephemeral key exchange and an
 * AEAD cipher; every other TLS 1.2 suite is on the prohibited list.
 */
export function forbiddenForH2(version: string | null, cipher: CipherInfo | null): boolean {
  if (!cipher || version === 'TLSv1.3') return false;
  const ephemeral = /^(ECDHE|DHE)/.test(cipher.keyExchange);
  const aead = /GCM|CHACHA20|CCM/.test(cipher.encryption);
  return !(ephemeral && aead);
}

function h1Only(alpn: string | false | null): string {
  return alpn ? `the server chose ${alpn} by ALPN` : 'the server did not choose a protocol by ALPN (HTTP/1.1)';
}

export class H2SessionPool {
  private readonly sessions = new Map<string, Promise<Route>>();
  /** Origins that answer in HTTP/1.1, with why. */
  private readonly http1 = new LRUCache<string, string>({ max: MAX_ORIGINS });
  private readonly live = new Set<ClientHttp2Session>();
  /** Origins that took an http/1.1-only offer, and those that refused it (they speak only h2). */
  private readonly takesHttp1 = new LRUCache<string, true>({ max: MAX_ORIGINS });
  private readonly onlyH2 = new LRUCache<string, true>({ max: MAX_ORIGINS });
  private readonly probes = new Map<string, Promise<Route | null>>();

  constructor(
    private readonly upstream: Upstream,
    private readonly options: SessionPoolOptions,
  ) {}

  /** Whether this origin is known to answer over HTTP/1.1 only (no h2 by ALPN, or h2 over a forbidden suite). */
  knownHttp1(target: UpstreamTarget): boolean {
    return this.http1.has(poolKey(target));
  }

  /** How to reach an origin for an HTTP/2 client: a shared h2 session, or HTTP/1.1 through the agent. */
  route(target: UpstreamTarget): Promise<Route> {
    if (target.scheme !== 'https') return Promise.resolve({ kind: 'h1', note: null });
    const key = poolKey(target);
    if (this.http1.has(key)) return Promise.resolve({ kind: 'h1', note: null });
    let route = this.sessions.get(key);
    if (!route) {
      route = this.open(key, target);
      this.sessions.set(key, route);
      route.then(
        (r) => {
          if (r.kind === 'h1') this.sessions.delete(key);
        },
        () => this.sessions.delete(key),
      );
    }
    return route;
  }

  /**
   * For an HTTP/1.1 client: null when the origin is known to take HTTP/1.1 (forward as usual),
   * else a promise of its h2 session if it refuses http/1.1 by ALPN (alert
   * no_application_protocol), or of null. The first request per origin finds out with the
   * connection it will use anyway, so knowing costs no extra handshake.
   */
  http1ClientRoute(target: UpstreamTarget): Promise<Route | null> | null {
    if (target.scheme !== 'https') return null;
    const key = poolKey(target);
    if (this.takesHttp1.has(key)) return null;
    if (this.onlyH2.has(key)) return this.route(target);
    let probe = this.probes.get(key);
    if (!probe) {
      probe = this.probe(key, target).finally(() => this.probes.delete(key));
      this.probes.set(key, probe);
    }
    return probe;
  }

  private async probe(key: string, target: UpstreamTarget): Promise<Route | null> {
    const attempt = this.upstream.takeEager(target) ?? this.upstream.connect(target);
    try {
      await attempt;
    } catch (err) {
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      if (cause?.code === NO_APPLICATION_PROTOCOL) {
        this.onlyH2.set(key, true);
        return this.route(target);
      }
      this.upstream.adopt(target, attempt);
      return null;
    }
    this.takesHttp1.set(key, true);
    this.upstream.adopt(target, attempt);
    return null;
  }

  private async open(key: string, target: UpstreamTarget): Promise<Route> {
    // The connection opened while the client's handshake ran offered h2 already (see the proxy server).
    const socket = (await (this.upstream.takeEager(target, H2_ALPN) ?? this.upstream.connect(target, H2_ALPN))) as TLSSocket;
    const info = getUpstream(socket);
    const connection = info?.connection;
    const hs = connection?.tls ?? null;
    const alpn = socket.alpnProtocol;
    if (alpn !== 'h2') {
      this.http1.set(key, h1Only(alpn));
      this.upstream.adopt(target, Promise.resolve(socket));
      return { kind: 'h1', note: null };
    }
    if (hs && forbiddenForH2(hs.version, hs.cipher)) {
      const reason = `the server chose h2 over ${hs.version ?? 'TLS'} with ${hs.cipher?.name ?? 'its suite'}, which RFC 9113 §9.2.2 forbids for HTTP/2: HTTP/1.1 is used instead`;
      this.http1.set(key, reason);
      socket.destroy();
      const again = await this.upstream.connect(target, ['http/1.1']);
      const againInfo = getUpstream(again);
      if (againInfo) this.annotate(againInfo.connection, againInfo.startedAt, reason);
      if (connection && info) this.annotate(connection, info.startedAt, reason);
      this.upstream.adopt(target, Promise.resolve(again));
      return { kind: 'h1', note: reason };
    }
    if (!info || !connection) throw new MitmError('MITM_ERR_INTERNAL', 'internal error: an upstream connection without its record');
    const onFrames = this.options.onFrames;
    const tap = new H2FrameTap(connection, 'server', info.startedAt, onFrames ? { onFrames: (change) => onFrames(connection, change) } : {});
    const stream = new H2TappedStream(socket, tap);
    const host = bareHost(target.host);
    const session = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${target.port}`, {
      createConnection: () => stream as unknown as Duplex,
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    session.on('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
    this.live.add(session);
    const forget = (): void => {
      this.live.delete(session);
      void this.sessions.get(key)?.then((r) => {
        if (r.kind === 'h2' && r.session === session) this.sessions.delete(key);
      });
    };
    session.on('error', () => {});
    session.on('goaway', forget);
    session.on('close', forget);
    session.setTimeout(IDLE_SESSION_MS, () => session.close());
    return { kind: 'h2', session, socket, tap };
  }

  /** Adds the protocol decision to a connection's TLS ladder, where the user looks for it. */
  private annotate(connection: Connection, origin: number, reason: string): void {
    if (!connection.tls) return;
    const event: HandshakeEvent = { t: roundMs(nowMs() - origin), from: 'proxy', type: 'ALPN', details: { decision: 'http/1.1', reason } };
    connection.tls.events.push(event);
    this.options.onTlsEvent?.(connection, event);
  }

  close(): void {
    for (const s of this.live) s.destroy();
    this.live.clear();
    this.sessions.clear();
  }
}
