/**
 * Flow and Connection: the captured record of one exchange and of the TCP/TLS connections it used.
 * These shapes are the dashboard API's contract (docs/ARCHITECTURE.md); it serialises them with `flowToJson`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FailureStage } from '../errors.js';

/** `[name, value]` in wire order with the original case. */
export type Header = [name: string, value: string];

/** Who sent a message: the client, mitmscope itself, or the upstream server. */
export type Sender = 'client' | 'proxy' | 'server';

export interface HandshakeEvent {
  /** ms since the TCP connection opened (sub-millisecond precision). */
  t: number;
  from: Sender;
  /** TLS message name as in RFC 5246/8446, or `TCPConnect`, `Alert`, `EncryptedHandshake`, `ApplicationData`, `Error`. */
  type: string;
  details: Record<string, unknown>;
}

export interface CipherInfo {
  id: number;
  name: string;
  keyExchange: string;
  authentication: string;
  encryption: string;
  mac: string;
}

export interface CertificateSummary {
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  sans: string[];
  sha256: string;
}

export interface Handshake {
  /** Negotiated protocol, e.g. `TLSv1.2`; null until known. */
  version: string | null;
  cipher: CipherInfo | null;
  sni: string | null;
  alpn: string | null;
  /** ALPN protocols the client offered. */
  alpnOffered: string[];
  /** JA3 fingerprint (MD5 hex), as tshark's `tls.handshake.ja3`. */
  ja3: string | null;
  /** The JA3 string it hashes (tshark's `tls.handshake.ja3_full`). */
  ja3String: string | null;
  ja4: string | null;
  /** Cipher suite ids the client offered, in order (GREASE included). */
  offeredCiphers: number[];
  /** Key-exchange group (e.g. `x25519`) when known. */
  group: string | null;
  certificates: CertificateSummary[];
  events: HandshakeEvent[];
  /** Why the handshake failed, in words; null when it did not fail. */
  error: string | null;
  /** Set when a TLS 1.2 attempt was refused and the proxy retried with TLS 1.3. */
  fallback: string | null;
  /**
   * An abbreviated handshake: an earlier session was resumed (ticket, session id or PSK), so no
   * certificate crossed this connection and no key was signed.
   */
  resumed: boolean;
}

/** One of the two TCP/TLS connections of a proxied exchange: client ↔ proxy, or proxy ↔ server. */
export type Leg = 'client' | 'server';

export interface Connection {
  id: string;
  side: Leg;
  /** Peer address and port (the client for `client`, the upstream for `server`). */
  address: string;
  port: number;
  /** Host name this connection is for (CONNECT/SNI host for client, upstream host for server). */
  host: string;
  /** Epoch ms when the TCP connection opened. */
  openedAt: number;
  closedAt: number | null;
  tls: Handshake | null;
  /** The HTTP/2 frames of this connection, when it speaks HTTP/2. */
  http2?: Http2Connection;
}

/** One connection-level HTTP/2 frame (or the preface, or a protocol error) as read from the bytes. */
export interface Http2Event {
  /** ms since the TCP connection opened. */
  t: number;
  from: Sender;
  type: string;
  stream: number;
  details: Record<string, unknown>;
}

/** What one sender's frames did to flow control: WINDOW_UPDATEs are counted, not listed. */
export interface Http2WindowCount {
  frames: number;
  bytes: number;
}

export interface Http2Connection {
  /** Preface, SETTINGS and ACKs, PING, RST_STREAM, GOAWAY, PRIORITY, PUSH_PROMISE and errors, in order. */
  events: Http2Event[];
  /** Events not kept once `events` was full (a PING flood must not grow memory). */
  dropped: number;
  windowUpdates: Partial<Record<Sender, Http2WindowCount>>;
  /** Streams opened on the connection (HEADERS that started a stream). */
  streams: number;
}

/** One sender's side of one HTTP/2 stream, as timings (ms since the connection opened). */
export interface Http2StreamSide {
  /** Each HEADERS frame (the head, then trailers). */
  headers: number[];
  firstData: number | null;
  lastData: number | null;
  dataFrames: number;
  dataBytes: number;
  /** When END_STREAM was seen. */
  end: number | null;
}

/** The frames of one stream on one leg. */
export interface Http2Stream {
  leg: Leg;
  connectionId: string;
  streamId: number;
  sides: Partial<Record<Sender, Http2StreamSide>>;
  reset: { t: number; from: Sender; code: number; error: string } | null;
}

export interface CapturedMessage {
  httpVersion: string;
  headers: Header[];
  /** Bytes on the wire after transfer decoding (what the peer sent as the entity). */
  bodySize: number;
  /** True when only the first `maxBody` bytes were kept. */
  bodyTruncated: boolean;
  /** Captured copy of the body, at most `maxBody` bytes; not sent in JSON summaries. */
  body: Buffer;
  trailers: Header[];
}

export interface CapturedRequest extends CapturedMessage {
  method: string;
  url: string;
}

export interface CapturedResponse extends CapturedMessage {
  status: number;
  statusText: string;
}

/** HAR 1.2 phases in ms; -1 where a phase did not happen (for example a reused connection). */
export interface Timings {
  blocked: number;
  dns: number;
  connect: number;
  ssl: number;
  send: number;
  wait: number;
  receive: number;
}

export interface FlowError {
  stage: FailureStage;
  code: string;
  message: string;
}

/** `paused`: held at a breakpoint; nothing of it has reached the other side yet. */
export type FlowState = 'pending' | 'paused' | 'complete' | 'error';
export type PausedAt = 'request' | 'response';
export type FlowKind = 'http' | 'tunnel' | 'tls-failure' | 'websocket';

export interface WebSocketMessage {
  /** `send` is client → server, `receive` server → client (Chrome's HAR shape). */
  type: 'send' | 'receive';
  /** Epoch seconds with fractions, as Chrome writes it. */
  time: number;
  opcode: number;
  size: number;
  /** Text, or base64 for binary frames; capped. */
  data: string;
  truncated: boolean;
}

export interface WebSocketInfo {
  protocol: string | null;
  extensions: string | null;
  messages: WebSocketMessage[];
  closeCode: number | null;
  closeReason: string | null;
  closedBy: Leg | null;
}

export interface Flow {
  id: string;
  kind: FlowKind;
  state: FlowState;
  /** Epoch ms of the first byte of the request (or of the connection for tunnels). */
  startedAt: number;
  /** ms from start to the last byte of the response; null while pending. */
  duration: number | null;
  scheme: 'http' | 'https' | 'ws' | 'wss' | 'tcp';
  host: string;
  port: number;
  request: CapturedRequest;
  response: CapturedResponse | null;
  error: FlowError | null;
  timings: Timings;
  clientConnection: Connection | null;
  serverConnection: Connection | null;
  /** Upstream IP the exchange went to, when one was reached. */
  serverIPAddress: string | null;
  websocket: WebSocketInfo | null;
  /** True for flows loaded from a HAR file rather than captured. */
  imported: boolean;
  /** Free-form notes (e.g. why a tunnel was not intercepted). */
  notes: string[];
  /** Where a `paused` flow is held; null otherwise. */
  paused: PausedAt | null;
  /** The flow this one resent, for flows made by replay. */
  replayOf: string | null;
  /** HTTP/2 streams that carried the exchange (client leg's and/or server leg's); null without HTTP/2. */
  http2: Http2Stream[] | null;
}

/**
 * A time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then random bits.
 * Ids made later sort later, so the session's unique index on ids grows at its right edge: a
 * batch of new flows dirties one or two index pages instead of one random page per flow (and the
 * pages of a large session's index need not be read back from disk to insert).
 */
export function newId(): string {
  const random = randomUUID();
  const ms = Date.now().toString(16).padStart(12, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7${random.slice(15)}`;
}

export function emptyHandshake(): Handshake {
  return {
    version: null,
    cipher: null,
    sni: null,
    alpn: null,
    alpnOffered: [],
    ja3: null,
    ja3String: null,
    ja4: null,
    offeredCiphers: [],
    group: null,
    certificates: [],
    events: [],
    error: null,
    fallback: null,
    resumed: false,
  };
}

export function emptyTimings(): Timings {
  return { blocked: -1, dns: -1, connect: -1, ssl: -1, send: 0, wait: 0, receive: 0 };
}

/**
 * HAR `send` and `wait` from hrtime marks: send runs from the socket being ready (or the request,
 * when no socket was seen) to the last request byte, wait from there to the response head.
 */
export function setSendWait(t: Timings, marks: { request: number; socket: number; sent: number; response: number }): void {
  const sent = marks.sent || marks.response;
  t.send = roundMs(sent - (marks.socket || marks.request));
  t.wait = roundMs(marks.response - sent);
}

/** hrtime marks of an exchange (0 where a moment has not come), for `failedTimings`. */
export interface ExchangeMarks {
  tRequest: number;
  tSocket: number;
  tSent: number;
  tResponse: number;
  /** An upstream socket was assigned (connected, or reused from the pool). */
  socketSeen: boolean;
}

/**
 * Timings of an exchange that failed at `end`: the phases that ran keep their times, the one
 * that was running gets the time until the failure, and phases that never started are -1
 * (not 0), so the waterfall draws no bar for them.
 */
export function failedTimings(t: Timings, ex: ExchangeMarks, end: number, phases: { dns: number; connect: number; ssl: number } | null): void {
  if (!ex.socketSeen) {
    if (phases) {
      t.dns = phases.dns < 0 ? -1 : roundMs(phases.dns);
      t.connect = phases.connect < 0 ? -1 : roundMs(phases.connect);
      t.ssl = phases.ssl < 0 ? -1 : roundMs(phases.ssl);
    }
    t.send = t.wait = t.receive = -1;
    return;
  }
  if (ex.tResponse) {
    t.receive = roundMs(end - ex.tResponse);
    return;
  }
  if (ex.tSent) {
    setSendWait(t, { request: ex.tRequest, socket: ex.tSocket, sent: ex.tSent, response: end });
  } else {
    t.send = roundMs(end - (ex.tSocket || ex.tRequest));
    t.wait = -1;
  }
  t.receive = -1;
}

/** Non-negative ms with µs precision, as timings are reported. */
export function roundMs(ms: number): number {
  return Math.max(0, Math.round(ms * 1000) / 1000);
}

export function emptyRequest(method: string, url: string, httpVersion = '1.1'): CapturedRequest {
  return { method, url, httpVersion, headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
}

export interface NewFlowInit {
  kind: FlowKind;
  scheme: Flow['scheme'];
  host: string;
  port: number;
  request: CapturedRequest;
  clientConnection: Connection | null;
  startedAt?: number;
}

export function createFlow(init: NewFlowInit): Flow {
  return {
    id: newId(),
    kind: init.kind,
    state: 'pending',
    startedAt: init.startedAt ?? Date.now(),
    duration: null,
    scheme: init.scheme,
    host: init.host,
    port: init.port,
    request: init.request,
    response: null,
    error: null,
    timings: emptyTimings(),
    clientConnection: init.clientConnection,
    serverConnection: null,
    serverIPAddress: null,
    websocket: null,
    imported: false,
    notes: [],
    paused: null,
    replayOf: null,
    http2: null,
  };
}

/** The flow's copy of an upstream answer's head; the body is captured as it streams. */
export function capturedResponse(res: IncomingMessage): CapturedResponse {
  return {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? '',
    httpVersion: res.httpVersion,
    headers: pairHeaders(res.rawHeaders),
    bodySize: 0,
    bodyTruncated: false,
    body: Buffer.alloc(0),
    trailers: [],
  };
}

/** Pairs from Node's flat `rawHeaders` array, keeping order and case. */
export function pairHeaders(raw: readonly string[]): Header[] {
  const out: Header[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

export function headerValue(headers: readonly Header[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Short summary for lists and the live feed. */
export interface FlowSummary {
  id: string;
  kind: FlowKind;
  state: FlowState;
  method: string;
  url: string;
  scheme: Flow['scheme'];
  host: string;
  status: number | null;
  contentType: string | null;
  requestSize: number;
  responseSize: number;
  startedAt: number;
  duration: number | null;
  tlsVersion: string | null;
  /** The connection `tlsVersion` belongs to: the server leg when it has TLS, else the client leg. */
  tlsLeg: Leg | null;
  error: string | null;
  imported: boolean;
  paused: PausedAt | null;
  replayOf: string | null;
}

/**
 * Which leg a summary's TLS version is from. The server leg's version is preferred and the
 * server connection is TLS exactly when the scheme is https/wss, so this needs no handshake.
 */
export function tlsLegOf(tlsVersion: string | null, scheme: Flow['scheme'], hasServerConnection: boolean): Leg | null {
  if (tlsVersion === null) return null;
  return hasServerConnection && (scheme === 'https' || scheme === 'wss') ? 'server' : 'client';
}

/**
 * The TLS version a flow's summary shows. A TLS server leg speaks for the flow, even when its
 * handshake failed before a version was chosen (then none is shown): the client's version would
 * be read as the server's, since `tlsLegOf` tells the legs apart by the server connection alone.
 */
function summaryTlsVersion(flow: Flow): string | null {
  const server = flow.serverConnection;
  if (server && (flow.scheme === 'https' || flow.scheme === 'wss')) return server.tls?.version ?? null;
  return server?.tls?.version ?? flow.clientConnection?.tls?.version ?? null;
}

export function summarize(flow: Flow): FlowSummary {
  const tlsVersion = summaryTlsVersion(flow);
  return {
    id: flow.id,
    kind: flow.kind,
    state: flow.state,
    method: flow.request.method,
    url: flow.request.url,
    scheme: flow.scheme,
    host: flow.host,
    status: flow.response?.status ?? null,
    contentType: flow.response ? headerValue(flow.response.headers, 'content-type') ?? null : null,
    requestSize: flow.request.bodySize,
    responseSize: flow.response?.bodySize ?? 0,
    startedAt: flow.startedAt,
    duration: flow.duration,
    tlsVersion,
    tlsLeg: tlsLegOf(tlsVersion, flow.scheme, flow.serverConnection !== null),
    error: flow.error ? `${flow.error.stage}: ${flow.error.message}` : null,
    imported: flow.imported,
    paused: flow.paused,
    replayOf: flow.replayOf,
  };
}

type MessageJson<M extends CapturedMessage> = Omit<M, 'body'>;

export interface FlowJson extends Omit<Flow, 'request' | 'response' | 'clientConnection' | 'serverConnection'> {
  request: MessageJson<CapturedRequest>;
  response: MessageJson<CapturedResponse> | null;
  clientConnection: Connection | null;
  serverConnection: Connection | null;
  tls: { client: Handshake | null; server: Handshake | null };
}

function stripBody<M extends CapturedMessage>(m: M): MessageJson<M> {
  const { body: _body, ...rest } = m;
  return rest;
}

/** The whole flow as the API serves it: bodies are fetched separately by id. */
export function flowToJson(flow: Flow): FlowJson {
  return {
    ...flow,
    request: stripBody(flow.request),
    response: flow.response ? stripBody(flow.response) : null,
    tls: { client: flow.clientConnection?.tls ?? null, server: flow.serverConnection?.tls ?? null },
  };
}
