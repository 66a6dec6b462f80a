/**
 * The dashboard API's JSON as the page receives it (docs/ARCHITECTURE.md, "Dashboard HTTP API").
 * Mirrors `FlowSummary` and `FlowJson` in src/capture/flow.ts without importing them: that
 * module needs Node's types (Buffer, node:crypto), which the page must not compile against.
 * test/ui/types.test.ts fails to type-check when the two drift apart.
 */

export type Header = [name: string, value: string];
/** Who sent a message: the client, mitmscope itself, or the upstream server. */
export type Sender = 'client' | 'proxy' | 'server';
/** One of the two connections of a proxied exchange: client ↔ proxy, or proxy ↔ server. */
export type Leg = 'client' | 'server';
export type FlowKind = 'http' | 'tunnel' | 'tls-failure' | 'websocket';
export type FlowState = 'pending' | 'paused' | 'complete' | 'error';
export type PausedAt = 'request' | 'response';
export type Scheme = 'http' | 'https' | 'ws' | 'wss' | 'tcp';

export interface FlowSummary {
  id: string;
  kind: FlowKind;
  state: FlowState;
  method: string;
  url: string;
  scheme: Scheme;
  host: string;
  status: number | null;
  contentType: string | null;
  requestSize: number;
  responseSize: number;
  startedAt: number;
  duration: number | null;
  tlsVersion: string | null;
  /** The connection `tlsVersion` belongs to. */
  tlsLeg: Leg | null;
  error: string | null;
  imported: boolean;
  paused: PausedAt | null;
  replayOf: string | null;
}

export interface HandshakeEvent {
  /** ms since the leg's TCP connection opened. */
  t: number;
  from: Sender;
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
  version: string | null;
  cipher: CipherInfo | null;
  sni: string | null;
  alpn: string | null;
  alpnOffered: string[];
  ja3: string | null;
  ja3String: string | null;
  ja4: string | null;
  offeredCiphers: number[];
  group: string | null;
  certificates: CertificateSummary[];
  events: HandshakeEvent[];
  error: string | null;
  fallback: string | null;
  /** An abbreviated handshake: a session was resumed. */
  resumed: boolean;
}

export interface Connection {
  id: string;
  side: Leg;
  address: string;
  port: number;
  host: string;
  openedAt: number;
  closedAt: number | null;
  tls: Handshake | null;
  http2?: Http2Connection;
}

export interface Http2Event {
  t: number;
  from: Sender;
  type: string;
  stream: number;
  details: Record<string, unknown>;
}

export interface Http2Connection {
  events: Http2Event[];
  dropped: number;
  windowUpdates: Partial<Record<Sender, { frames: number; bytes: number }>>;
  streams: number;
}

export interface Http2StreamSide {
  headers: number[];
  firstData: number | null;
  lastData: number | null;
  dataFrames: number;
  dataBytes: number;
  end: number | null;
}

export interface Http2Stream {
  leg: Leg;
  connectionId: string;
  streamId: number;
  sides: Partial<Record<Sender, Http2StreamSide>>;
  reset: { t: number; from: Sender; code: number; error: string } | null;
}

export interface MessageJson {
  httpVersion: string;
  headers: Header[];
  bodySize: number;
  bodyTruncated: boolean;
  trailers: Header[];
}

export interface RequestJson extends MessageJson {
  method: string;
  url: string;
}

export interface ResponseJson extends MessageJson {
  status: number;
  statusText: string;
}

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
  stage: string;
  code: string;
  message: string;
}

export interface WebSocketMessage {
  type: 'send' | 'receive';
  /** Epoch seconds with fractions. */
  time: number;
  opcode: number;
  size: number;
  /** Text, or base64 for binary frames. */
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

export interface FlowDetail {
  id: string;
  kind: FlowKind;
  state: FlowState;
  startedAt: number;
  duration: number | null;
  scheme: Scheme;
  host: string;
  port: number;
  request: RequestJson;
  response: ResponseJson | null;
  error: FlowError | null;
  timings: Timings;
  clientConnection: Connection | null;
  serverConnection: Connection | null;
  serverIPAddress: string | null;
  websocket: WebSocketInfo | null;
  imported: boolean;
  notes: string[];
  paused: PausedAt | null;
  replayOf: string | null;
  http2: Http2Stream[] | null;
  tls: { client: Handshake | null; server: Handshake | null };
}

export interface HarRecordingStatus {
  path: string;
  entries: number;
  unmapped: number;
  lastError: string | null;
  stopped: boolean;
}

export type PauseAt = 'request' | 'response' | 'both';
export type RewriteTarget = 'request-header' | 'response-header' | 'request-body' | 'response-body' | 'url';

export type RuleAction =
  | { type: 'pause'; at: PauseAt }
  | { type: 'respond'; status: number; headers: Header[]; body: string }
  | { type: 'rewrite'; target: RewriteTarget; find: string; replace: string }
  | { type: 'delay'; ms: number }
  | { type: 'abort'; how: 'reset' | 'close' };

export interface Rule {
  id: string;
  enabled: boolean;
  match: string;
  action: RuleAction;
}

export interface StatusJson {
  version: string;
  flows: number;
  storeBytes: number;
  storeMaxBytes: number;
  recording: { path: string } | null;
  /** The HAR recorder's health: flows it could not write, and why. */
  har: HarRecordingStatus | null;
  /** Hosts tunnelled untouched since a client rejected our certificate. */
  passthrough: string[];
  /** Whether the session is being written (a full disk pauses capture; proxying goes on). */
  capture: CaptureStatus;
}

/** What the live feed carries (src/capture/store.ts StoreEvent). */
export type LiveEvent =
  | { type: 'flow'; flow: FlowSummary }
  | { type: 'flow-update'; flow: FlowSummary }
  | { type: 'flow-evicted'; id: string }
  | { type: 'tls'; connectionId: string; event: HandshakeEvent }
  /** A relayed WebSocket message (`index` into the flow's messages; `data` may be a preview). */
  | { type: 'ws-message'; flowId: string; index: number; message: WebSocketMessage }
  /** The session stopped or resumed recording (a full disk pauses capture; proxying goes on). */
  | { type: 'capture'; status: CaptureStatus }
  | H2FramesEvent
  | { type: 'cleared' };

/**
 * What HTTP/2 frames changed on a connection: `events` continue `Connection.http2.events` from
 * index `first` (a `first` past what the page holds means some were skipped: fetch the flow);
 * the counters are the latest; `timings` are streams whose HEADERS/DATA timings changed.
 */
export interface H2FramesEvent {
  type: 'h2-frames';
  connectionId: string;
  leg: Leg;
  first: number;
  events: Http2Event[];
  dropped: number;
  streams: number;
  windowUpdates: Http2Connection['windowUpdates'];
  timings: Http2Stream[];
}

export interface CaptureStatus {
  state: 'recording' | 'paused';
  reason: string | null;
  since: number | null;
  lost: number;
  rejected: number;
  lastRejected: string | null;
}
