/**
 * HAR 1.2 object types (http://www.softwareishard.com/blog/har-12-spec/) plus the custom fields
 * mitmscope writes. The spec allows custom fields only with a leading underscore; every one we
 * add is listed here with what it carries, so readers of our files know what to expect.
 */
import type { FlowError, FlowKind, Handshake } from '../capture/flow.js';

export interface HarNameValue {
  name: string;
  value: string;
  comment?: string;
}

export interface HarCookie {
  name: string;
  value: string;
  path?: string;
  domain?: string;
  /** ISO 8601; har-validator checks it with the `date-time` format, so unparseable dates are left out. */
  expires?: string | null;
  httpOnly?: boolean;
  secure?: boolean;
  comment?: string;
}

export interface HarPostParam {
  name: string;
  value?: string;
  fileName?: string;
  contentType?: string;
  comment?: string;
}

export interface HarPostData {
  mimeType: string;
  text?: string;
  params?: HarPostParam[];
  comment?: string;
  /**
   * `base64` when `text` holds a binary upload as base64. The spec gives postData no `encoding`
   * field (only `content` has one), so ours is underscored; import also accepts a bare `encoding`.
   */
  _encoding?: 'base64';
}

export interface HarRequest {
  method: string;
  url: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  queryString: HarNameValue[];
  postData?: HarPostData;
  headersSize: number;
  bodySize: number;
  comment?: string;
}

export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  encoding?: string;
  comment?: string;
  /**
   * Set when `text` is the body still compressed with this Content-Encoding (it was truncated or
   * could not be decoded); absent when `text` is decoded as the spec asks.
   */
  _contentEncoding?: string;
}

export interface HarResponse {
  status: number;
  statusText: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  content: HarContent;
  redirectURL: string;
  headersSize: number;
  bodySize: number;
  comment?: string;
}

export interface HarCacheEntry {
  expires?: string;
  lastAccess: string;
  eTag: string;
  hitCount: number;
  comment?: string;
}

export interface HarCache {
  beforeRequest?: HarCacheEntry | null;
  afterRequest?: HarCacheEntry | null;
  comment?: string;
}

export interface HarTimings {
  blocked?: number;
  dns?: number;
  /** Includes `ssl` (HAR 1.2 §timings, kept for HAR 1.1 compatibility). */
  connect?: number;
  send: number;
  wait: number;
  receive: number;
  ssl?: number;
  comment?: string;
}

/** One WebSocket frame in Chrome DevTools' HAR shape; `size`/`truncated` only when the data was capped. */
export interface HarWebSocketMessage {
  type: 'send' | 'receive';
  /** Epoch seconds with fractions. */
  time: number;
  opcode: number;
  /** Text, or base64 for binary frames (opcode 2). */
  data: string;
  size?: number;
  truncated?: boolean;
}

export interface HarWebSocketInfo {
  protocol: string | null;
  extensions: string | null;
  closeCode: number | null;
  closeReason: string | null;
  closedBy: 'client' | 'server' | null;
}

export interface HarEntry {
  pageref?: string;
  startedDateTime: string;
  time: number;
  request: HarRequest;
  response: HarResponse;
  cache: HarCache;
  timings: HarTimings;
  /** Only when it is an IPv4/IPv6 literal: har-validator checks the `ipv4`/`ipv6` formats. */
  serverIPAddress?: string;
  /** Id of the upstream connection; entries sharing it reused one connection. */
  connection?: string;
  comment?: string;
  /** The TLS handshakes of the client leg and of the server leg, as the dashboard API shows them. */
  _tls?: { client: Handshake | null; server: Handshake | null };
  /** Why the exchange failed; with no response the entry has Chrome's status 0 placeholder. */
  _error?: FlowError;
  /** `websocket` for WebSocket exchanges, as Chrome writes it. */
  _resourceType?: string;
  _webSocketMessages?: HarWebSocketMessage[];
  _webSocket?: HarWebSocketInfo;
  /** mitmscope flow kind when it is not plain HTTP or WebSocket (`tunnel`, `tls-failure`). */
  _kind?: FlowKind;
  /** Notes the proxy attached to the flow (for example why a tunnel was not intercepted). */
  _notes?: string[];
}

export interface HarCreator {
  name: string;
  version: string;
  comment?: string;
}

export interface HarPageTimings {
  onContentLoad?: number;
  onLoad?: number;
  comment?: string;
}

export interface HarPage {
  startedDateTime: string;
  id: string;
  title: string;
  pageTimings: HarPageTimings;
  comment?: string;
}

export interface HarLog {
  version: string;
  creator: HarCreator;
  browser?: HarCreator;
  pages?: HarPage[];
  entries: HarEntry[];
  comment?: string;
}

export interface Har {
  log: HarLog;
}
