/**
 * Flow → HAR 1.2 entry (export) and the public import entry point. Custom fields and every
 * deliberate choice are described in `types.ts`; bodies follow `body.ts`, timings `timings.ts`.
 */
import { packageVersion } from '../package-info.js';
import { isIP } from 'node:net';
import { headerValue, type CapturedRequest, type CapturedResponse, type Flow, type FlowKind, type Handshake } from '../capture/flow.js';
import { bodyToText, contentCoding, decodeBody, type BodyText } from './body.js';
import { requestCookies, responseCookies } from './cookies.js';
import { harHeaders, redactCookies, redaction, REDACTED, type RedactOptions, type Redaction } from './redact.js';
import { NOT_APPLICABLE, toHarTimings, totalTime } from './timings.js';
import type { Har, HarContent, HarCreator, HarEntry, HarNameValue, HarPostData, HarRequest, HarResponse } from './types.js';

export { harToFlows } from './import.js';
export type { RedactOptions } from './redact.js';

export interface HarOptions {
  redact?: RedactOptions | null;
  creatorVersion?: string;
}

export const HAR_VERSION = '1.2';
export const CREATOR_NAME = 'mitmscope';
/** src/har → package root is 2 levels up, dist/src/har is 3; a little slack for other layouts. */
/** Said in `comment` when a flow has neither a response nor an error (exported while in flight). */
export const NO_RESPONSE_NOTE = 'no response: the exchange was still in progress';

const ABSOLUTE_URL = /^[a-z][a-z0-9+.-]*:\/\//i;
const FORM_MIME = /^\s*application\/x-www-form-urlencoded\b/i;

export function harCreator(version?: string): HarCreator {
  return { name: CREATOR_NAME, version: version ?? packageVersion() };
}

export function flowToEntry(flow: Flow, options: HarOptions = {}): HarEntry {
  return entryFor(flow, redaction(options.redact));
}

export function flowsToHar(flows: readonly Flow[], options: HarOptions = {}): Har {
  const redact = redaction(options.redact);
  return {
    log: { version: HAR_VERSION, creator: harCreator(options.creatorVersion), pages: [], entries: flows.map((f) => entryFor(f, redact)) },
  };
}

/**
 * One entry as JSON text, for the recorder: the entry is serialised at once, so it may share the
 * flow's handshake objects instead of copying them (the copy is ~60% of the cost with `_tls`).
 */
export function entryJson(flow: Flow, redact: Redaction): string {
  return JSON.stringify(entryFor(flow, redact, false));
}

function entryFor(flow: Flow, redact: Redaction, copyTls = true): HarEntry {
  const notes: string[] = [];
  const timings = toHarTimings(flow.timings);
  const request = harRequest(flow, redact, notes);
  const response = flow.response ? harResponse(flow, flow.response, redact, notes) : placeholderResponse();
  if (!flow.response && !flow.error) notes.push(NO_RESPONSE_NOTE);
  const entry: HarEntry = {
    startedDateTime: new Date(flow.startedAt).toISOString(),
    time: totalTime(timings),
    request,
    response,
    cache: {},
    timings,
  };
  const ip = flow.serverIPAddress?.replace(/^\[|\]$/g, '');
  if (ip && isIP(ip) !== 0) entry.serverIPAddress = ip;
  if (flow.serverConnection) entry.connection = flow.serverConnection.id;
  if (notes.length > 0) entry.comment = notes.join('; ');
  const client = flow.clientConnection?.tls ?? null;
  const server = flow.serverConnection?.tls ?? null;
  if (client || server) entry._tls = copyTls ? { client: jsonCopy(client), server: jsonCopy(server) } : { client, server };
  if (flow.error) entry._error = { stage: flow.error.stage, code: flow.error.code, message: flow.error.message };
  if (flow.kind === 'tunnel' || flow.kind === 'tls-failure') entry._kind = flow.kind;
  if (flow.kind === 'websocket' || flow.websocket) {
    entry._resourceType = 'websocket';
    const ws = flow.websocket;
    if (ws) {
      entry._webSocketMessages = ws.messages.map((m) =>
        m.truncated ? { type: m.type, time: m.time, opcode: m.opcode, data: m.data, size: m.size, truncated: true } : { type: m.type, time: m.time, opcode: m.opcode, data: m.data },
      );
      entry._webSocket = { protocol: ws.protocol, extensions: ws.extensions, closeCode: ws.closeCode, closeReason: ws.closeReason, closedBy: ws.closedBy };
    }
  }
  if (flow.notes.length > 0) entry._notes = [...flow.notes];
  return entry;
}

/** The entry must not alias live flow state, and must hold exactly what JSON will carry. */
function jsonCopy(h: Handshake | null): Handshake | null {
  return h === null ? null : (JSON.parse(JSON.stringify(h)) as Handshake);
}

/** Tunnels record `host:port` (authority-form); HAR wants an absolute URL. */
function absoluteUrl(flow: Flow): string {
  return ABSOLUTE_URL.test(flow.request.url) ? flow.request.url : `${flow.scheme}://${flow.request.url}`;
}

/** Node reports `1.1`; HAR writes `HTTP/1.1`. Other spellings (`h2` from imports) pass through. */
/** Chrome DevTools writes HTTP/2 exchanges as `h2` (the ALPN name), HTTP/1.x as `HTTP/1.1`. */
function harVersion(v: string): string {
  if (v === '2' || v === '2.0') return 'h2';
  return /^\d/.test(v) ? `HTTP/${v}` : v;
}

/** Header blocks are only measurable for HTTP/1.x exchanges whose headers we saw. */
function hasHeaderBlock(kind: FlowKind, httpVersion: string): boolean {
  return (kind === 'http' || kind === 'websocket') && /^(HTTP\/)?1\./i.test(httpVersion);
}

function headerLinesSize(headers: readonly [string, string][]): number {
  // Node decodes header bytes as latin1, so string length is the byte count.
  let n = 2; // the empty line ending the block
  for (const [k, v] of headers) n += k.length + 2 + v.length + 2;
  return n;
}

/**
 * Computed from the request line (origin-form, as sent upstream) and the recorded headers: Node
 * keeps names, values and order but not optional whitespace, so this can be short by a few bytes.
 */
function requestHeadersSize(flow: Flow): number {
  const req = flow.request;
  if (!hasHeaderBlock(flow.kind, req.httpVersion)) return NOT_APPLICABLE;
  const target = req.url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
  return `${req.method} ${target} ${harVersion(req.httpVersion)}\r\n`.length + headerLinesSize(req.headers);
}

function responseHeadersSize(kind: FlowKind, res: CapturedResponse): number {
  if (!hasHeaderBlock(kind, res.httpVersion)) return NOT_APPLICABLE;
  return `${harVersion(res.httpVersion)} ${res.status} ${res.statusText}\r\n`.length + headerLinesSize(res.headers);
}

function queryString(url: string): HarNameValue[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  return [...new URLSearchParams(query)].map(([name, value]) => ({ name, value }));
}

function truncationNote(which: string, m: CapturedRequest | CapturedResponse): string {
  return `${which} body truncated at ${m.body.length} of ${m.bodySize} bytes`;
}

function harRequest(flow: Flow, redact: Redaction, notes: string[]): HarRequest {
  const req = flow.request;
  const url = absoluteUrl(flow);
  const out: HarRequest = {
    method: req.method,
    url,
    httpVersion: harVersion(req.httpVersion),
    cookies: redactCookies(requestCookies(req.headers), redact),
    headers: harHeaders(req.headers, redact),
    queryString: queryString(url),
    headersSize: requestHeadersSize(flow),
    bodySize: req.bodySize,
  };
  // Tunnels count relayed bytes but never capture them: there is no body to show.
  if (flow.kind !== 'tunnel' && (req.body.length > 0 || req.bodyTruncated)) out.postData = postData(req);
  if (req.bodyTruncated) notes.push(truncationNote('request', req));
  return out;
}

/**
 * Binary uploads are base64 with `_encoding: 'base64'`. Forms carry both `text` (the exact bytes)
 * and `params` (what viewers tabulate), as Chrome and Firefox write them, although the spec calls
 * the two mutually exclusive: with `params` alone the bytes could not be restored on import.
 */
function postData(req: CapturedRequest): HarPostData {
  const mimeType = headerValue(req.headers, 'content-type') ?? '';
  const { text, base64 } = bodyToText(req.body, mimeType);
  const out: HarPostData = { mimeType, text };
  if (base64) out._encoding = 'base64';
  else if (!req.bodyTruncated && FORM_MIME.test(mimeType)) out.params = [...new URLSearchParams(text)].map(([name, value]) => ({ name, value }));
  return out;
}

function harResponse(flow: Flow, res: CapturedResponse, redact: Redaction, notes: string[]): HarResponse {
  const location = headerValue(res.headers, 'location');
  if (res.bodyTruncated) notes.push(truncationNote('response', res));
  return {
    status: res.status,
    statusText: res.statusText,
    httpVersion: harVersion(res.httpVersion),
    cookies: redactCookies(responseCookies(res.headers, flow.startedAt), redact),
    headers: harHeaders(res.headers, redact),
    content: harContent(flow.kind, res),
    redirectURL: location === undefined ? '' : redact?.has('location') ? REDACTED : location,
    headersSize: responseHeadersSize(flow.kind, res),
    bodySize: res.bodySize,
  };
}

function withText(content: HarContent, body: BodyText): HarContent {
  content.text = body.text;
  if (body.base64) content.encoding = 'base64';
  return content;
}

/**
 * `text` is the decoded body and `size` its length; `compression` = size − bodySize (bytes saved).
 * A truncated or undecodable compressed body is kept as captured, base64, with `_contentEncoding`.
 */
function harContent(kind: FlowKind, res: CapturedResponse): HarContent {
  const mimeType = headerValue(res.headers, 'content-type') ?? '';
  if (kind === 'tunnel' || res.body.length === 0) return { size: res.bodySize, mimeType };
  const coding = contentCoding(res.headers);
  if (coding === null) return withText({ size: res.bodySize, mimeType }, bodyToText(res.body, mimeType));
  const decoded = res.bodyTruncated ? null : decodeBody(res.body, coding);
  if (decoded) return withText({ size: decoded.length, compression: decoded.length - res.bodySize, mimeType }, bodyToText(decoded, mimeType));
  return { size: res.bodySize, mimeType, text: res.body.toString('base64'), encoding: 'base64', _contentEncoding: coding };
}

/** Chrome's shape for a request that got no response: status 0, nothing measured. */
function placeholderResponse(): HarResponse {
  return {
    status: 0,
    statusText: '',
    httpVersion: '',
    cookies: [],
    headers: [],
    content: { size: 0, mimeType: '' },
    redirectURL: '',
    headersSize: NOT_APPLICABLE,
    bodySize: NOT_APPLICABLE,
  };
}
