/**
 * The proxy listener: HTTP/1.1 proxy requests (absolute-URI) and CONNECT. CONNECT tunnels are
 * sniffed: TLS is intercepted, plain HTTP is proxied, anything else and ignored hosts are relayed
 * raw. Decrypted and tunnelled HTTP is handed to an inner, non-listening HTTP server.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { domainToASCII } from 'node:url';
import { createFlow, emptyHandshake, emptyRequest, newId, type Connection, type HandshakeEvent } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import type { CertificateMinter } from '../ca/mint.js';
import { isIgnored, type Config } from '../config.js';
import { ConfigError, MitmError, statusFor, type UpstreamError } from '../errors.js';
import { CA_PAGE_HOST as CA_HOST } from '../setup/ca-page.js';
import { Forwarder } from './forward.js';
import { endWithErrorResponse, sendErrorResponse } from './error-response.js';
import { Upstream } from './upstream.js';
import { WebSocketRelay, isWebSocketUpgrade, proxyUpgradeTarget, replayWithoutUpgrade } from './websocket.js';
import { interceptTls } from './intercept.js';
import { openTunnel, recordFailedTunnel, type TunnelOptions } from './tunnel.js';
import { sniff, type Sniffed } from './sniff.js';
import { PROBE_AFTER_QUIET_MS, probeUpstream, type SpokenProbe, type UpstreamProbe } from './first-speaker.js';
import { connectRequest } from './connect-request.js';
import { bareHost, upstreamServername } from './hosts.js';
import { getClient, getTunnel, nowMs, setClient, setTunnel } from './socket-state.js';
import type { RuleHooks } from '../rules/hold.js';
import { H2ClientLeg } from './h2/client-leg.js';
import { relayFromH1 } from './h2/relay-from-h1.js';
import type { ExchangeLimits } from './h2/exchange.js';
import { H2SessionPool, H2_ALPN, clientOffersH2 } from './h2/session-pool.js';
import { leafKindFor } from '../ca/leaf-kind.js';

/** Bounds for how often Node checks request-header deadlines (slowloris guard). */
const MIN_CHECK_INTERVAL_MS = 100;
const MAX_CHECK_INTERVAL_MS = 5000;
/** A ClientHello larger than this is not one (RFC 8446 allows 2^24, real ones stay under 16 KiB). */
const MAX_PEEK_BYTES = 64 * 1024;

export interface ProxyServerOptions {
  config: Config;
  store: FlowStore;
  minter: CertificateMinter;
  keylog: ((line: Buffer) => void) | null;
  /** Extra trusted upstream CA certificates (PEM texts). */
  extraCa: string[];
  /** Answers requests for the CA install host; absent until that page exists. */
  caPage?: ((req: IncomingMessage, res: ServerResponse) => void) | null;
  /** Rules and breakpoints for HTTP exchanges; absent streams everything untouched. */
  rules?: RuleHooks | null;
}

/**
 * What the first bytes of a CONNECT tunnel decided: the client's protocol, a server that spoke
 * first (its probe becomes the tunnel's upstream), a target the probe could not reach, or
 * silence on both sides until the client-headers timeout.
 */
type Peeked =
  | Exclude<Sniffed, { kind: 'need-more' }>
  | { kind: 'server-first'; probe: SpokenProbe }
  | { kind: 'unreachable'; error: UpstreamError }
  | { kind: 'silent'; ms: number };

export interface Authority {
  host: string;
  port: number;
}

export function parseAuthority(value: string | undefined): Authority | null {
  if (!value) return null;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/?#[\]@]+):(\d{1,5})$/.exec(value);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  let host = m[1]!;
  if (!host.startsWith('[')) {
    const ascii = domainToASCII(host);
    if (!ascii) return null;
    host = ascii;
  }
  return { host, port };
}


export class ProxyServer {
  readonly server: http.Server;
  private readonly inner: http.Server;
  private readonly options: ProxyServerOptions;
  readonly upstream: Upstream;
  private readonly forwarder: Forwarder;
  private readonly h2pool: H2SessionPool;
  private readonly h2: H2ClientLeg;
  private readonly limits: ExchangeLimits;
  /** Hosts whose clients rejected our certificate (with --auto-passthrough): tunnelled from then on. */
  readonly passthrough = new Set<string>();
  private readonly sockets = new Set<Duplex>();
  private readonly tunnelOptions: TunnelOptions;

  constructor(options: ProxyServerOptions) {
    this.options = options;
    const { config, store } = options;
    this.tunnelOptions = { store, connectTimeout: config.connectTimeout };
    const onTlsEvent = (connection: Connection, event: HandshakeEvent): void => store.tlsEvent(connection.id, event);
    this.upstream = new Upstream({
      tls: config.upstreamTls,
      extraCa: options.extraCa,
      insecure: config.insecure,
      connectTimeout: config.connectTimeout,
      keylog: options.keylog,
      onTlsEvent,
      observe: config.observeTls,
    });
    this.forwarder = new Forwarder({
      store,
      upstream: this.upstream,
      maxBody: config.maxBody,
      headersTimeout: config.headersTimeout,
      bodyTimeout: config.bodyTimeout,
      rules: options.rules ?? null,
    });
    this.limits = { maxBody: config.maxBody, headersTimeout: config.headersTimeout, bodyTimeout: config.bodyTimeout };
    this.h2pool = new H2SessionPool(this.upstream, { onTlsEvent, onFrames: (connection, change) => store.h2Frames(connection, change) });
    this.h2 = new H2ClientLeg({
      store,
      upstream: this.upstream,
      pool: this.h2pool,
      rules: options.rules ?? null,
      ...this.limits,
    });
    const serverOptions: http.ServerOptions = {
      headersTimeout: config.clientHeadersTimeout,
      // Uploads may take long; only header arrival is bounded.
      requestTimeout: 0,
      // Node checks header deadlines on this period (default 30 s): keep it a fraction of the timeout.
      connectionsCheckingInterval: Math.max(MIN_CHECK_INTERVAL_MS, Math.min(MAX_CHECK_INTERVAL_MS, config.clientHeadersTimeout / 4)),
      keepAliveTimeout: 30_000,
    };
    this.server = http.createServer(serverOptions, (req, res) => this.onProxyRequest(req, res));
    this.inner = http.createServer(serverOptions, (req, res) => this.onTunnelRequest(req, res));
    this.server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onConnect(req, socket, head));
    this.server.on('connection', (socket: Socket) => this.onAccept(socket));
    const websockets = new WebSocketRelay({ store, upstream: this.upstream, maxBody: config.maxBody, headersTimeout: config.headersTimeout });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(websockets, this.server, req, socket, head));
    this.inner.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(websockets, this.inner, req, socket, head));
    for (const s of [this.server, this.inner]) s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.options.config;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const why = err.code === 'EADDRINUSE' ? 'the port is in use (choose another with --port)' : err.code === 'EACCES' ? 'permission denied' : err.code ?? err.message;
        reject(new ConfigError(`the proxy cannot listen on ${host}:${port}: ${why}`));
      };
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /**
   * Stops accepting, lets in-flight exchanges finish for up to `graceMs`, then closes every
   * connection. Idle keep-alive connections close at once.
   */
  async close(graceMs = 0): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    this.inner.closeIdleConnections();
    if (graceMs > 0) await this.forwarder.drain(graceMs);
    this.server.closeAllConnections();
    this.inner.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
    this.forwarder.close();
    this.h2.close();
    this.h2pool.close();
    this.upstream.close();
  }

  private onAccept(socket: Socket): void {
    const acceptedAt = nowMs();
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    const { connection } = this.clientOf(socket, acceptedAt);
    socket.once('close', () => {
      connection.closedAt = Date.now();
    });
  }

  /** The client Connection of a socket, made at accept time (or on first sight). */
  private clientOf(socket: Socket, acceptedAt = nowMs()): { connection: Connection; acceptedAt: number } {
    const known = getClient(socket);
    if (known) return known;
    const connection: Connection = { id: newId(), side: 'client', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, host: '', openedAt: Date.now(), closedAt: null, tls: null };
    setClient(socket, connection, acceptedAt);
    return { connection, acceptedAt };
  }

  private isSelf(host: string, port: number): boolean {
    const addr = this.server.address() as AddressInfo | null;
    if (!addr || port !== addr.port) return false;
    const h = bareHost(host);
    return h === addr.address || h === 'localhost' || h === '127.0.0.1' || h === '::1' || (addr.address === '0.0.0.0' && isIP(h) !== 0);
  }

  /** Plain proxy requests (absolute-URI) and requests aimed at the proxy itself. */
  private onProxyRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    let parsed: URL | null = null;
    if (/^https?:\/\//i.test(url)) {
      try {
        parsed = new URL(url);
      } catch {
        parsed = null;
      }
    }
    if (!parsed) {
      if (url.startsWith('/')) {
        const host = (req.headers.host ?? '').replace(/:\d+$/, '');
        if (host === CA_HOST && this.options.caPage) return this.options.caPage(req, res);
        return this.explain(res);
      }
      return this.reject(res, new MitmError('MITM_ERR_BAD_REQUEST', `cannot proxy "${url.slice(0, 200)}": expected an absolute http:// URL or CONNECT host:port`), req);
    }
    if (parsed.protocol === 'https:') {
      return this.reject(res, new MitmError('MITM_ERR_BAD_REQUEST', 'received an https:// URL in a plain proxy request; clients send CONNECT for https (set HTTPS_PROXY, not only HTTP_PROXY)'), req);
    }
    const port = parsed.port ? Number(parsed.port) : 80;
    if (parsed.hostname === CA_HOST && this.options.caPage) return this.options.caPage(req, res);
    if (this.isSelf(parsed.hostname, port)) return this.explain(res);
    const { connection } = this.clientOf(req.socket);
    connection.host ||= parsed.hostname;
    this.forwarder.handle(req, res, { scheme: 'http', host: parsed.hostname, port, servername: null, client: connection });
  }

  /** Requests decrypted from (or tunnelled through) a CONNECT. */
  private onTunnelRequest(req: IncomingMessage, res: ServerResponse): void {
    const ctx = getTunnel(req.socket);
    if (!ctx) return this.reject(res, new MitmError('MITM_ERR_INTERNAL', 'internal error: request on an unknown tunnel'), req);
    if (ctx.connectHost === CA_HOST && this.options.caPage) return this.options.caPage(req, res);
    const host = ctx.connectHost;
    const target = { scheme: ctx.scheme, host, port: ctx.connectPort, servername: upstreamServername(host, ctx.sni), client: ctx.client };
    const h2 = this.options.config.http2 ? this.h2pool.http1ClientRoute(target) : null;
    if (!h2) return void this.forwarder.handle(req, res, target);
    h2.then(
      (route) => {
        if (route?.kind === 'h2') relayFromH1(req, res, target, ctx.client, route, this.options.store, this.limits);
        else this.forwarder.handle(req, res, target);
      },
      () => this.forwarder.handle(req, res, target),
    );
  }

  /** WebSocket upgrades through the plain proxy or inside a tunnel; other upgrades are served as plain requests. */
  private onUpgrade(websockets: WebSocketRelay, from: http.Server, req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (!isWebSocketUpgrade(req)) return replayWithoutUpgrade(from, req, socket, head);
    if (from === this.inner) {
      const ctx = getTunnel(socket);
      if (!ctx) return websockets.refuse(req, socket, new MitmError('MITM_ERR_INTERNAL', 'internal error: upgrade on an unknown tunnel'));
      websockets.handle(req, socket, head, { scheme: ctx.scheme, host: ctx.connectHost, port: ctx.connectPort, servername: upstreamServername(ctx.connectHost, ctx.sni), client: ctx.client });
      return;
    }
    const target = proxyUpgradeTarget(req.url ?? '');
    if (target instanceof MitmError) return websockets.refuse(req, socket, target);
    if (this.isSelf(target.host, target.port)) return websockets.refuse(req, socket, new MitmError('MITM_ERR_BAD_REQUEST', 'this is mitmscope itself, not a WebSocket server (the dashboard listens on its own port)'));
    const { connection } = this.clientOf(socket);
    connection.host ||= target.host;
    websockets.handle(req, socket, head, { scheme: 'http', host: target.host, port: target.port, servername: null, client: connection });
  }

  private onConnect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const target = parseAuthority(req.url);
    const client = this.clientOf(socket);
    if (!target) {
      const err = new MitmError('MITM_ERR_BAD_REQUEST', `CONNECT needs host:port, got "${(req.url ?? '').slice(0, 200)}"`);
      this.recordClientError('CONNECT', req.url ?? '', err);
      endWithErrorResponse(socket, err);
      return;
    }
    client.connection.host = target.host;
    const sent = connectRequest(req);
    const bare = bareHost(target.host);
    if (isIgnored(this.options.config, bare, target.port) || this.passthrough.has(bare)) {
      const reason = this.passthrough.has(bare) ? 'passed through: a client rejected the mitmscope certificate for this host' : 'ignored by --ignore-hosts';
      openTunnel({ socket, buffered: head, host: target.host, port: target.port, client: client.connection, request: sent, reason, pendingConnectReply: true }, this.tunnelOptions);
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const answeredAt = nowMs();
    this.peek(socket, head, target, (buffered, verdict) => {
      if (verdict.kind === 'tls') {
        const certHost = verdict.sni ?? bare;
        if (this.passthrough.has(certHost)) {
          openTunnel({ socket, buffered, host: target.host, port: target.port, client: client.connection, request: sent, reason: 'passed through: a client rejected the mitmscope certificate for this host', pendingConnectReply: false }, this.tunnelOptions);
          return;
        }
        client.connection.tls = emptyHandshake();
        if (this.options.config.eagerUpstream) {
          // A client that offers h2 will speak it (we prefer it): its upstream is offered h2 too,
          // unless the origin is known to speak HTTP/1.1 only (then the HTTP/1.1 pool takes it).
          const eagerTarget = { scheme: 'https' as const, host: target.host, port: target.port, servername: upstreamServername(target.host, verdict.sni) };
          const h2 = this.offersH2() && clientOffersH2(verdict.hello) && !this.h2pool.knownHttp1(eagerTarget);
          this.upstream.connectEagerly(eagerTarget, h2 ? H2_ALPN : undefined);
        }
        // Next tick: Node issues the eager upstream connect on the next tick, and it should leave
        // before our certificate is built (~1 ms of JavaScript), so the origin's side of its
        // handshake runs while we mint ours.
        process.nextTick(() => {
          void interceptTls(
            { socket, buffered, certHost, leafKind: leafKindFor(verdict.hello), connectHost: target.host, connectPort: target.port, client: client.connection, acceptedAt: client.acceptedAt, request: sent },
            {
              store: this.options.store,
              minter: this.options.minter,
              keylog: this.options.keylog,
              onTlsEvent: (c, e) => this.options.store.tlsEvent(c.id, e),
              observe: this.options.config.observeTls,
              alpn: this.offersH2() ? H2_ALPN : ['http/1.1'],
              onRejected: (host) => {
                if (this.options.config.autoPassthrough) this.passthrough.add(host);
              },
            },
          ).then((tlsSocket) => {
            if (!tlsSocket) return;
            this.sockets.add(tlsSocket);
            tlsSocket.once('close', () => this.sockets.delete(tlsSocket));
            if (tlsSocket.alpnProtocol === 'h2') {
              const h2Target = { scheme: 'https' as const, host: target.host, port: target.port, servername: upstreamServername(target.host, verdict.sni) };
              this.h2.accept(tlsSocket, { target: h2Target, client: client.connection, acceptedAt: client.acceptedAt });
              return;
            }
            setTunnel(tlsSocket, { scheme: 'https', connectHost: target.host, connectPort: target.port, sni: verdict.sni, client: client.connection, raw: socket });
            this.inner.emit('connection', tlsSocket);
          });
        });
        return;
      }
      if (verdict.kind === 'http') {
        socket.unshift(buffered);
        setTunnel(socket, { scheme: 'http', connectHost: target.host, connectPort: target.port, sni: null, client: client.connection, raw: socket });
        this.inner.emit('connection', socket);
        socket.resume();
        return;
      }
      if (verdict.kind === 'bad-tls') {
        client.connection.tls = emptyHandshake();
        client.connection.tls.error = verdict.reason;
        const flow = createFlow({ kind: 'tls-failure', scheme: 'https', host: target.host, port: target.port, request: sent, clientConnection: client.connection, startedAt: client.connection.openedAt });
        flow.state = 'error';
        flow.error = { stage: 'client-tls', code: 'MITM_ERR_TLS_PARSE', message: `the client's ClientHello could not be parsed: ${verdict.reason}` };
        this.options.store.add(flow);
        // RFC 8446 §6.2: answer garbage with a fatal decode_error alert (level 2, description 50).
        socket.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
        return;
      }
      const tunnel = { socket, buffered, host: target.host, port: target.port, client: client.connection, request: sent, pendingConnectReply: false };
      if (verdict.kind === 'other') return openTunnel({ ...tunnel, reason: 'not TLS or HTTP: relayed untouched' }, this.tunnelOptions);
      if (verdict.kind === 'server-first') {
        return openTunnel({ ...tunnel, probe: verdict.probe, reason: 'the server spoke first: relayed untouched (a server-speaks-first protocol such as SMTP or SSH)' }, this.tunnelOptions);
      }
      if (verdict.kind === 'unreachable') {
        return recordFailedTunnel({ ...tunnel, reason: 'the client sent nothing and the server could not be reached' }, verdict.error, this.tunnelOptions, answeredAt);
      }
      const label = `${target.host}:${target.port}`;
      const message = `neither the client nor ${label} sent anything within ${verdict.ms} ms of the CONNECT: closed (a TLS or HTTP client speaks first; an SMTP-like server greets first)`;
      recordFailedTunnel({ ...tunnel, reason: 'neither side spoke' }, { stage: 'client-request', code: 'MITM_ERR_CLIENT_TIMEOUT', message }, this.tunnelOptions, answeredAt);
    });
  }

  /** Whether clients are offered h2: rules and breakpoints act on HTTP/2 streams as on HTTP/1.1 exchanges. */
  private offersH2(): boolean {
    return this.options.config.http2;
  }

  /** Reads just enough of the tunnel to tell TLS from HTTP from anything else. */
  private peek(socket: Socket, head: Buffer, target: Authority, done: (buffered: Buffer, verdict: Peeked) => void): void {
    let buffered = head;
    let finished = false;
    let probe: UpstreamProbe | null = null;
    const stop = (): void => {
      finished = true;
      clearTimeout(quietTimer);
      clearTimeout(slowTimer);
      socket.off('data', onData);
      socket.off('close', onClose);
      probe?.cancel();
    };
    const finish = (verdict: Peeked): void => {
      if (finished) return;
      stop();
      socket.pause();
      done(buffered, verdict);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // The client spoke first: whatever the server would have said, it is not a greeting.
      clearTimeout(quietTimer);
      probe?.cancel();
      probe = null;
      check();
    };
    const onClose = (): void => stop();
    const check = (): void => {
      const verdict = sniff(buffered);
      if (verdict.kind !== 'need-more') finish(verdict);
      else if (buffered.length > MAX_PEEK_BYTES) finish({ kind: 'bad-tls', reason: `no complete ClientHello in the first ${MAX_PEEK_BYTES} bytes` });
    };
    // A quiet client is slow or waits for a server greeting: the server tells which by speaking first.
    const quietTimer = setTimeout(() => {
      if (finished || buffered.length > 0) return;
      // Reports only while the client is still silent: its first byte cancels the probe.
      probe = probeUpstream(target.host, target.port, this.options.config.connectTimeout, (outcome) => {
        probe = null;
        if (outcome.kind === 'spoke') finish({ kind: 'server-first', probe: outcome.probe });
        else finish({ kind: 'unreachable', error: outcome.error });
      });
    }, PROBE_AFTER_QUIET_MS);
    // A dribbling client (or one that, like its server, says nothing) gets as long as it would get to send HTTP headers.
    const slowTimer = setTimeout(() => {
      if (finished) return;
      const ms = this.options.config.clientHeadersTimeout;
      if (buffered.length === 0) finish({ kind: 'silent', ms });
      else if (buffered[0] === 0x16) finish({ kind: 'bad-tls', reason: `incomplete ClientHello: ${buffered.length} bytes in ${ms} ms` });
      else finish({ kind: 'other' });
    }, this.options.config.clientHeadersTimeout);
    socket.on('data', onData);
    socket.on('close', onClose);
    if (buffered.length > 0) {
      clearTimeout(quietTimer);
      check();
    }
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const failure =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new MitmError('MITM_ERR_HEADERS_TOO_LARGE', 'request headers are larger than the limit')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new MitmError('MITM_ERR_CLIENT_TIMEOUT', 'the client did not send its request headers in time')
          : new MitmError('MITM_ERR_BAD_REQUEST', `malformed request: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    const raw = (err as { rawPacket?: Buffer }).rawPacket;
    const method = raw ? /^([A-Z]{1,16}) /.exec(raw.subarray(0, 20).toString('latin1'))?.[1] ?? '' : '';
    this.recordClientError(method, '', failure);
    endWithErrorResponse(socket, failure);
  }

  private recordClientError(method: string, url: string, err: MitmError): void {
    const flow = createFlow({ kind: 'http', scheme: 'http', host: '', port: 0, request: emptyRequest(method || 'UNKNOWN', url), clientConnection: null });
    flow.state = 'error';
    flow.error = { stage: 'client-request', code: err.code, message: err.message };
    flow.response = { status: statusFor(err.code), statusText: '', httpVersion: '1.1', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    flow.duration = 0;
    this.options.store.add(flow);
  }

  private reject(res: ServerResponse, err: MitmError, req: IncomingMessage): void {
    this.recordClientError(req.method ?? '', req.url ?? '', err);
    sendErrorResponse(res, err);
  }

  private explain(res: ServerResponse): void {
    const addr = this.server.address() as AddressInfo;
    const proxy = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    const body = [
      'This is mitmscope, an intercepting HTTPS debugging proxy.',
      '',
      'It is not a web server: point your browser or tool at it as a proxy instead, e.g.',
      `  curl --proxy ${proxy} --cacert ca/ca.pem https://example.com/`,
      `  export HTTPS_PROXY=${proxy} HTTP_PROXY=${proxy}`,
      '',
      `Through the proxy, http://${CA_HOST}/ serves the CA certificate to trust.`,
      '',
    ].join('\n');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}
