/**
 * The client leg of HTTP/2: a decrypted client connection that chose h2 by ALPN is served by
 * Node's http2 (which owns HPACK and flow control) on top of a frame tap that records the
 * connection's frames from the bytes. Every stream is one Flow, relayed to the origin's shared
 * upstream HTTP/2 session or, when the server speaks only HTTP/1.1, to its keep-alive pool.
 * A client whose bytes are not HTTP/2 gets GOAWAY PROTOCOL_ERROR and a flow that says so.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { createFlow, emptyRequest, pairHeaders, roundMs, summarize, type Connection, type Header, type Http2Event } from '../../capture/flow.js';
import type { FlowStore } from '../../capture/store.js';
import { MitmError, statusFor } from '../../errors.js';
import { hostPort, type ForwardTarget } from '../forward.js';
import type { Upstream } from '../upstream.js';
import { H2TappedStream } from './frame-stream.js';
import { nowMs } from '../socket-state.js';
import { H2FrameTap } from './frame-tap.js';
import { H2Exchange, objectPairs, type ExchangeLimits } from './exchange.js';
import { H2SessionPool } from './session-pool.js';
import { relayToH2 } from './relay-h2.js';
import { relayToH1 } from './relay-h1.js';
import { h2RequestToH1 } from './translate.js';
import { interceptH2, type HeldRequest } from './intercept.js';
import { internalError } from './held.js';
import { planExchange } from '../../rules/plan.js';
import type { RuleHooks } from '../../rules/hold.js';

const END_STREAM = 0x1;
/** RFC 9113 §6.5.2: each header field counts its name, its value and 32 octets. */
const HEADER_ENTRY_OVERHEAD = 32;
/** Streams a client may open at once (what browsers and nghttp2 default to). */
const MAX_CONCURRENT_STREAMS = 128;

export interface H2ClientLegOptions extends ExchangeLimits {
  store: FlowStore;
  upstream: Upstream;
  pool: H2SessionPool;
  /** Rules and breakpoints; null relays every stream untouched. */
  rules: RuleHooks | null;
}

export interface H2ClientTarget {
  target: Omit<ForwardTarget, 'client'>;
  client: Connection;
  /** hrtime (ms) the client's TCP connection was accepted: frame times count from it. */
  acceptedAt: number;
}

export class H2ClientLeg {
  private readonly server = http2.createServer({ settings: { enablePush: false, maxConcurrentStreams: MAX_CONCURRENT_STREAMS } });
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(private readonly options: H2ClientLegOptions) {}

  /** Serves a decrypted client connection that negotiated h2. */
  accept(socket: TLSSocket, at: H2ClientTarget): void {
    let session: ServerHttp2Session | null = null;
    const tap = new H2FrameTap(at.client, 'client', at.acceptedAt, {
      onProtocolError: (event) => this.protocolError(session, at, event),
      onFrames: (change) => this.options.store.h2Frames(at.client, change),
    });
    const stream = new H2TappedStream(socket as Socket, tap);
    // Node makes the session synchronously from 'connection': take it by the following 'session'.
    const onSession = (s: ServerHttp2Session): void => {
      session = s;
    };
    this.server.once('session', onSession);
    this.server.emit('connection', stream);
    this.server.off('session', onSession);
    const s = session as ServerHttp2Session | null;
    if (!s) {
      stream.destroy();
      return;
    }
    this.sessions.add(s);
    s.on('error', () => {});
    s.on('close', () => this.sessions.delete(s));
    s.on('stream', (st: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders?: string[]) => this.onStream(st, headers, flags, rawHeaders ?? [], tap, at));
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[], tap: H2FrameTap, at: H2ClientTarget): void {
    stream.on('error', () => {});
    const pairs = rawHeaders.length > 0 ? pairHeaders(rawHeaders) : objectPairs(headers);
    const target: ForwardTarget = { ...at.target, client: at.client };
    const head = h2RequestToH1(pairs);
    const scheme = String(headers[':scheme'] ?? target.scheme);
    const request = emptyRequest(head.method, `${scheme}://${head.authority || hostPort(target)}${head.path}`, '2');
    request.headers = pairs;
    const flow = createFlow({ kind: 'http', scheme: target.scheme, host: target.host, port: target.port, request, clientConnection: at.client });
    const id = stream.id ?? 0;
    // Trailers are announced on arrival, ahead of buffered DATA: listen before the route is known.
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      request.trailers = objectPairs(t);
    });
    const streamInfo = tap.stream(id);
    flow.http2 = [streamInfo];
    this.options.store.add(flow);
    const ex = new H2Exchange(flow, stream, target, hostPort(target), this.options.store, this.options);
    // Timed until the stream closes, not only until the flow settles: a RST_STREAM the proxy sends
    // as the flow fails (passing on the server's, or for a rule) lands on the flow too.
    stream.once('close', () => {
      tap.forget(id);
      if (ex.settled && streamInfo.reset?.from === 'proxy') this.options.store.update(flow);
    });
    // The same bound as HTTP/1.1 request heads (Node's maxHeaderSize), measured as RFC 9113 §6.5.2 does.
    const headerBytes = pairs.reduce((n, [k, v]) => n + k.length + v.length + HEADER_ENTRY_OVERHEAD, 0);
    if (headerBytes > http.maxHeaderSize) {
      const err = new MitmError('MITM_ERR_HEADERS_TOO_LARGE', `request headers are ${headerBytes} bytes, over the limit of ${http.maxHeaderSize}`);
      flow.response = { status: statusFor(err.code), statusText: '', httpVersion: '2', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
      ex.abort(err);
      return;
    }
    const endStream = (flags & END_STREAM) !== 0;
    const hooks = this.options.rules;
    const plan = hooks ? planExchange(hooks.rules.active, hooks.serveHar !== null, () => summarize(flow)) : null;
    if (hooks && plan) {
      const { store, maxBody } = this.options;
      const send = (x: H2Exchange, sent: Header[], held: HeldRequest): void => this.relay(x, sent, held.body.length === 0, held);
      interceptH2(ex, plan, pairs, { hooks, store, maxBody, send }).catch((err: unknown) => internalError(ex, err));
      return;
    }
    this.relay(ex, pairs, endStream, null);
  }

  /** Relays a stream to its origin's h2 session or HTTP/1.1 pool; `held`: a request the rules hold. */
  private relay(ex: H2Exchange, pairs: Header[], endStream: boolean, held: HeldRequest | null): void {
    this.options.pool.route(ex.target).then(
      (route) => {
        if (ex.settled) return;
        if (route.kind === 'h1' && route.note) ex.flow.notes.push(route.note);
        if (route.kind === 'h2') relayToH2(ex, route, pairs, endStream, held);
        else relayToH1(ex, this.options.upstream, pairs, endStream, held);
      },
      (err: unknown) => ex.abort(err instanceof MitmError ? err : new MitmError('MITM_ERR_INTERNAL', `internal error: ${(err as Error).message}`)),
    );
  }

  /** Bytes that are not HTTP/2: GOAWAY PROTOCOL_ERROR before Node reads them, and a flow. */
  private protocolError(session: ServerHttp2Session | null, at: H2ClientTarget, event: Http2Event): void {
    if (event.from !== 'client') return;
    session?.goaway(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    const request = emptyRequest('PRI', `https://${hostPort(at.target)}/`, '2');
    const flow = createFlow({ kind: 'http', scheme: 'https', host: at.target.host, port: at.target.port, request, clientConnection: at.client });
    flow.state = 'error';
    flow.error = { stage: 'client-request', code: 'MITM_ERR_H2_PROTOCOL', message: `the client's HTTP/2 bytes are invalid (${String(event.details['code'])}: ${String(event.details['reason'])}); answered with GOAWAY PROTOCOL_ERROR` };
    flow.duration = roundMs(nowMs() - at.acceptedAt);
    this.options.store.add(flow);
  }

  close(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }
}
