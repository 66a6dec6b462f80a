/**
 * Upstream connections: the proxy's own TCP and TLS connections to servers, observed through a
 * tap, with measured DNS/connect/TLS times, one keep-alive pool per origin and SNI, and trust
 * contexts built once (building a context from the whole root bundle costs ~45 ms, so never per
 * connection).
 */
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import http from 'node:http';
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { UpstreamError } from '../errors.js';
import { emptyHandshake, newId, roundMs, type Connection, type HandshakeEvent } from '../capture/flow.js';
import { HandshakeTap } from '../tls/tap.js';
import { TappedStream, TLS_STREAM_BUFFER_BYTES } from './tapped-stream.js';
import { nowMs, setFailedUpstream, setUpstream, type UpstreamSocketInfo } from './socket-state.js';
import { bareHost } from './hosts.js';
import type { UpstreamTls } from '../config.js';

/** Origins whose keep-alive pools we keep; older pools are closed. */
const MAX_POOLS = 512;
/** Idle keep-alive sockets are closed after this long (servers typically close at 5–60 s). */
const IDLE_SOCKET_MS = 30_000;
/**
 * No cap on connections per origin: a cap would queue a client's request behind others'
 * and add waits the app never had without the proxy. Idle ones kept for reuse are bounded.
 */
const MAX_SOCKETS_PER_ORIGIN = Infinity;
const MAX_FREE_SOCKETS_PER_ORIGIN = 256;
/**
 * TLS sessions kept for resumption, one per origin, SNI and TLS mode: a resumed handshake skips
 * the certificate chain and its verification, and the server's signature. A session is a few
 * hundred bytes; servers let tickets live for hours at most, so old ones simply fail to resume.
 */
const MAX_SESSIONS = 1024;

export interface UpstreamTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** SNI to send; null for IP literals (RFC 6066 forbids IPs in SNI). */
  servername: string | null;
}

export interface UpstreamOptions {
  tls: UpstreamTls;
  /** Extra trusted CA certificates (PEM), added to Node's roots. */
  extraCa: string[];
  insecure: boolean;
  connectTimeout: number;
  /** NSS key log lines of upstream TLS connections. */
  keylog: ((line: Buffer) => void) | null;
  /** Every handshake event of every upstream connection. */
  onTlsEvent: ((connection: Connection, event: HandshakeEvent) => void) | null;
  /** False only to measure what observing costs: TLS then runs on the raw socket. */
  observe: boolean;
}

type TlsMode = 'max12' | 'only13' | 'auto';

/** An eagerly opened upstream socket no request claimed is closed after this long. */
const EAGER_TTL_MS = 5000;

const HTTP1_ONLY: readonly string[] = ['http/1.1'];

export function poolKey(target: UpstreamTarget): string {
  return `${target.scheme}|${target.host}|${target.port}|${target.servername ?? ''}`;
}

/** Eager connections wait per pool and per offer: with h2 (for the HTTP/2 pool) or without. */
function eagerKey(target: UpstreamTarget, alpn: readonly string[]): string {
  return `${poolKey(target)}|${alpn.includes('h2') ? 'h2' : 'h1'}`;
}

/** An alert the server sent, as Node names it in err.code. */
const ALERT_CODE = /^ERR_SSL_(?:TLSV1|SSLV3|SSL\/TLS)_ALERT_(\w+)$/;

/** Words for a TLS failure, from Node's error: certificate problems keep OpenSSL's phrasing. */
export function tlsReason(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ECONNRESET') return 'the server reset the connection during the handshake';
  // Node builds the code from OpenSSL's reason: "sslv3 alert …" up to OpenSSL 3.1 (Node 20 and
  // 22), "ssl/tls alert …" from 3.2 on (Node 24 and later); "tlsv1 alert …" in both.
  const alert = ALERT_CODE.exec(code);
  if (alert) return `the server sent alert ${alert[1]!.toLowerCase()}`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'the server does not speak TLS on this port (wrong version number)';
  if (code === 'ERR_SSL_NO_PROTOCOLS_AVAILABLE' || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL') return 'no TLS version in common with the server';
  return err.message.replace(/^[^:]*routines:/, '').replace(/^error:[0-9A-F]+:SSL routines:[^:]*:/i, '');
}

function isProtocolVersionRefusal(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || err.code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || err.code === 'ERR_SSL_NO_PROTOCOLS_AVAILABLE';
}

export class Upstream {
  private readonly options: UpstreamOptions;
  private readonly contexts = new Map<TlsMode, SecureContext>();
  private readonly pools: LRUCache<string, http.Agent>;
  private readonly eager = new Map<string, { socket: Promise<Socket | TLSSocket>; timer: NodeJS.Timeout }>();
  private readonly sessions = new LRUCache<string, Buffer>({ max: MAX_SESSIONS });

  constructor(options: UpstreamOptions) {
    this.options = options;
    this.pools = new LRUCache<string, http.Agent>({ max: MAX_POOLS, dispose: (agent) => agent.destroy() });
  }

  private context(mode: TlsMode): SecureContext {
    let ctx = this.contexts.get(mode);
    if (!ctx) {
      ctx = tls.createSecureContext({
        ca: this.options.extraCa.length > 0 ? [...tls.rootCertificates, ...this.options.extraCa] : [...tls.rootCertificates],
        ...(mode === 'max12' ? { maxVersion: 'TLSv1.2' as const } : {}),
        ...(mode === 'only13' ? { minVersion: 'TLSv1.3' as const } : {}),
      });
      this.contexts.set(mode, ctx);
    }
    return ctx;
  }

  /** The keep-alive agent for one origin (and SNI): requests to it share connections. */
  agentFor(target: UpstreamTarget): http.Agent {
    const key = poolKey(target);
    let agent = this.pools.get(key);
    if (!agent) {
      agent = new UpstreamAgent(this, target);
      this.pools.set(key, agent);
    }
    return agent;
  }

  /**
   * Starts the upstream connection while the client's handshake is still running (mitmproxy's
   * "eager" strategy): the first request then finds it ready instead of paying DNS, TCP and TLS
   * after the client's handshake. Skipped when the pool already has an idle connection.
   */
  connectEagerly(target: UpstreamTarget, alpn: readonly string[] = HTTP1_ONLY): void {
    const key = eagerKey(target, alpn);
    if (this.eager.has(key)) return;
    const agent = this.pools.get(poolKey(target));
    if (agent && Object.values(agent.freeSockets).some((list) => (list?.length ?? 0) > 0)) return;
    const socket = this.connect(target, alpn);
    // Unused (the client gave up, or rejected our certificate): close it after a while.
    const timer = setTimeout(() => {
      if (this.eager.get(key)?.socket !== socket) return;
      this.eager.delete(key);
      socket.then((s) => s.destroy(), () => {});
    }, EAGER_TTL_MS);
    timer.unref();
    socket.catch(() => {});
    this.eager.set(key, { socket, timer });
  }

  /**
   * The eagerly opened socket for this pool, if one offering the same protocols is waiting; it is
   * handed out once. One that offered h2 serves the HTTP/2 pool only: an HTTP/1.1 request must
   * not inherit a connection the server may have agreed to speak h2 on (nor learn from it).
   */
  takeEager(target: UpstreamTarget, alpn: readonly string[] = HTTP1_ONLY): Promise<Socket | TLSSocket> | null {
    const key = eagerKey(target, alpn);
    const eager = this.eager.get(key);
    if (!eager) return null;
    this.eager.delete(key);
    clearTimeout(eager.timer);
    return eager.socket;
  }

  /**
   * Hands a connection attempt made elsewhere (the HTTP/2 pool learning what a server speaks) to
   * the next request of its origin's keep-alive pool, as an eager connection is: a failed attempt
   * fails that request at once instead of being made twice.
   */
  adopt(target: UpstreamTarget, attempt: Promise<Socket | TLSSocket>): void {
    const key = eagerKey(target, HTTP1_ONLY);
    attempt.catch(() => {});
    if (this.eager.has(key)) {
      attempt.then((s) => s.destroy(), () => {});
      return;
    }
    const timer = setTimeout(() => {
      if (this.eager.get(key)?.timer !== timer) return;
      this.eager.delete(key);
      attempt.then((s) => s.destroy(), () => {});
    }, EAGER_TTL_MS);
    timer.unref();
    this.eager.set(key, { socket: attempt, timer });
  }

  close(): void {
    this.pools.clear();
    for (const { socket, timer } of this.eager.values()) {
      clearTimeout(timer);
      socket.then((s) => s.destroy(), () => {});
    }
    this.eager.clear();
  }

  /**
   * Resolves, connects and (for https) completes TLS offering `alpn`; rejects with a staged UpstreamError that
   * carries the phases which ran, the failing one with the time it took until it failed.
   */
  async connect(target: UpstreamTarget, alpn: readonly string[] = HTTP1_ONLY): Promise<Socket | TLSSocket> {
    const phases = { dns: -1, connect: -1, ssl: -1 };
    let current = 'dns' as keyof typeof phases;
    let phaseStart = nowMs();
    let tcpMs = 0;
    try {
      return await this.connectPhases(target, alpn, (next, ms) => {
        phases[current] = ms;
        if (current === 'connect') tcpMs = ms;
        current = next;
        phaseStart = nowMs();
      });
    } catch (err) {
      if (err instanceof UpstreamError && err.phases === null) {
        const spent = nowMs() - phaseStart;
        phases[current] = spent;
        // HAR counts TLS inside connect.
        if (current === 'ssl') phases.connect = tcpMs + spent;
        err.phases = phases;
      }
      throw err;
    }
  }

  /** `connect` with a callback at each phase boundary: the phase that ended took `ms`. */
  private async connectPhases(target: UpstreamTarget, alpn: readonly string[], ended: (next: 'connect' | 'ssl', ms: number) => void): Promise<Socket | TLSSocket> {
    const startedAt = nowMs();
    const host = bareHost(target.host);
    const label = `${target.host}:${target.port}`;
    const connection: Connection = {
      id: newId(),
      side: 'server',
      address: '',
      port: target.port,
      host,
      openedAt: Date.now(),
      closedAt: null,
      tls: target.scheme === 'https' ? emptyHandshake() : null,
    };
    const deadline = startedAt + this.options.connectTimeout;

    let addresses: string[];
    let dns = -1;
    if (isIP(host)) {
      addresses = [host];
    } else {
      try {
        const found = await withTimeout(lookup(host, { all: true }), deadline, () =>
          new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'dns', label, `DNS lookup of ${host} timed out`));
        addresses = found.map((a) => a.address);
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        throw new UpstreamError('MITM_ERR_UPSTREAM_DNS', 'dns', label, `DNS lookup of ${host} failed (${code}): no such host`, { cause: err });
      }
      dns = nowMs() - startedAt;
    }
    ended('connect', dns);

    const tcpStart = nowMs();
    const raw = await this.connectAny(addresses, target.port, label, deadline);
    const connectMs = nowMs() - tcpStart;
    ended('ssl', connectMs);
    raw.setNoDelay(true);
    connection.address = raw.remoteAddress ?? addresses[0] ?? host;
    // The connection closes with the socket it is on now (a TLS 1.3 retry moves it to a new one).
    let live = raw;
    const closesWith = (socket: Socket): void => {
      socket.once('close', () => {
        if (live === socket) connection.closedAt = Date.now();
      });
    };
    closesWith(raw);

    const info: UpstreamSocketInfo = { connection, startedAt, dns, connect: connectMs, ssl: -1, uses: 0, remoteAddress: connection.address };
    if (target.scheme === 'http') {
      setUpstream(raw, info);
      return raw;
    }

    const onEvent = this.options.onTlsEvent;
    const listener = onEvent ? (e: HandshakeEvent) => onEvent(connection, e) : null;
    // Deferred: our answer to the server's flight leaves before that flight is described.
    let tap = new HandshakeTap(connection.tls!, 'server', tcpStart, listener, { deferred: true });
    tap.record('proxy', 'TCPConnect', { address: connection.address, port: target.port, durationMs: roundMs(connectMs) }, nowMs());
    const mode: TlsMode = this.options.tls === '1.2' ? 'max12' : this.options.tls === '1.3' ? 'only13' : 'auto';
    const sslStart = nowMs();
    let socket: TLSSocket;
    try {
      socket = await this.handshake(raw, tap, target, host, mode, deadline, label, alpn);
    } catch (err) {
      tap.flush();
      const e = err as NodeJS.ErrnoException;
      if (mode === 'max12' && !(err instanceof UpstreamError) && isProtocolVersionRefusal(e)) {
        // The server will not speak TLS 1.2: retry once with 1.3 on a fresh connection, and say so.
        const note = `the server refused TLS 1.2 (${tlsReason(e)}); retried with TLS 1.3`;
        const hs = connection.tls!;
        hs.fallback = note;
        tap.record('proxy', 'Fallback', { reason: note });
        // The refused attempt stays in the ladder (its alert, then the note); the handshake's
        // outcome is the retry's. Its bytes go to a parser of their own on the same ladder: the
        // first one stopped at the server's fatal alert.
        hs.error = null;
        tap = new HandshakeTap(hs, 'server', tcpStart, listener, { deferred: true });
        try {
          const retryStart = nowMs();
          live = await this.connectAny(addresses, target.port, label, deadline);
          live.setNoDelay(true);
          connection.address = live.remoteAddress ?? connection.address;
          info.remoteAddress = connection.address;
          connection.closedAt = null;
          closesWith(live);
          tap.record('proxy', 'TCPConnect', { address: connection.address, port: target.port, durationMs: roundMs(nowMs() - retryStart), retry: true });
          socket = await this.handshake(live, tap, target, host, 'only13', deadline, label, alpn);
        } catch (err2) {
          throw this.tlsFailure(err2, tap, label, connection);
        }
      } else {
        throw this.tlsFailure(err, tap, label, connection);
      }
    }
    info.ssl = nowMs() - sslStart;
    tap.complete(socket);
    setUpstream(socket, info);
    return socket;
  }

  /** The error a failed TLS attempt ends with; the flow it fails keeps the connection and its ladder. */
  private tlsFailure(err: unknown, tap: HandshakeTap, label: string, connection: Connection): UpstreamError {
    let failure: UpstreamError;
    if (err instanceof UpstreamError) {
      tap.fail(err.message, 'proxy');
      failure = err;
    } else {
      const reason = tlsReason(err as NodeJS.ErrnoException);
      tap.fail(reason, 'server');
      failure = new UpstreamError('MITM_ERR_UPSTREAM_TLS', 'upstream-tls', label, `TLS handshake with ${label} failed: ${reason}`, { cause: err });
    }
    setFailedUpstream(failure, connection);
    return failure;
  }

  private handshake(raw: Socket, tap: HandshakeTap, target: UpstreamTarget, host: string, mode: TlsMode, deadline: number, label: string, alpn: readonly string[]): Promise<TLSSocket> {
    return new Promise<TLSSocket>((resolve, reject) => {
      const stream = this.options.observe ? (new TappedStream(raw, tap) as unknown as Socket) : raw;
      const sessionKey = `${poolKey(target)}|${mode}`;
      const session = this.sessions.get(sessionKey);
      const socket = tls.connect({
        socket: stream,
        host,
        ...(target.servername ? { servername: target.servername } : {}),
        ...(session ? { session } : {}),
        secureContext: this.context(mode),
        rejectUnauthorized: !this.options.insecure,
        ALPNProtocols: [...alpn],
        ...(this.options.observe ? { highWaterMark: TLS_STREAM_BUFFER_BYTES } : {}),
      });
      // TLS 1.3 tickets come after the handshake, TLS 1.2 ones within it: keep the latest.
      socket.on('session', (s: Buffer) => this.sessions.set(sessionKey, s));
      const keylog = this.options.keylog;
      if (keylog) socket.on('keylog', keylog);
      // The tap decrypts this connection's handshake with its own secrets.
      if (this.options.observe) socket.on('keylog', (line: Buffer) => tap.keylog(line));
      const timer = setTimeout(() => {
        socket.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-tls', label, `TLS handshake with ${label} timed out`));
      }, Math.max(1, deadline - nowMs()));
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new UpstreamError('MITM_ERR_UPSTREAM_TLS', 'upstream-tls', label, `TLS handshake with ${label} failed: the server closed the connection during the handshake`));
      });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.removeAllListeners('close');
        // Errors after the handshake belong to whichever request uses the socket.
        socket.on('error', () => {});
        resolve(socket);
      });
    });
  }

  private async connectAny(addresses: string[], port: number, label: string, deadline: number): Promise<Socket> {
    let last: NodeJS.ErrnoException | null = null;
    for (const address of addresses) {
      try {
        return await tcpConnect(address, port, deadline, label);
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        last = err as NodeJS.ErrnoException;
      }
    }
    const code = last?.code ?? 'error';
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'host unreachable' : last?.message ?? code;
    throw new UpstreamError('MITM_ERR_UPSTREAM_CONNECT', 'connect', label, `TCP connection to ${label} failed: ${why}`, { cause: last });
  }
}

function tcpConnect(address: string, port: number, deadline: number, label: string): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host: address, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'connect', label, `TCP connection to ${label} timed out`));
    }, Math.max(1, deadline - nowMs()));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function withTimeout<T>(promise: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(1, deadline - nowMs()));
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** A keep-alive agent whose connections are made (and observed) by Upstream. */
class UpstreamAgent extends http.Agent {
  /** Node checks a request's protocol against its agent's; ours serves either scheme. */
  declare protocol: string;
  private readonly upstream: Upstream;
  private readonly target: UpstreamTarget;

  constructor(upstream: Upstream, target: UpstreamTarget) {
    super({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_ORIGIN, maxFreeSockets: MAX_FREE_SOCKETS_PER_ORIGIN, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' });
    this.protocol = `${target.scheme}:`;
    this.upstream = upstream;
    this.target = target;
  }

  override createConnection(_options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    (this.upstream.takeEager(this.target) ?? this.upstream.connect(this.target)).then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}
