/**
 * HAR → flows. Input is untrusted (POST /api/har, `--har-append` files, other tools' exports):
 * fields we need are checked and the first problem is named by its JSON path; custom fields we
 * wrote (`_tls`, `_error`, `_webSocketMessages`, ...) are restored when present and well-formed.
 */
import {
  createFlow,
  emptyHandshake,
  headerValue,
  newId,
  type CapturedRequest,
  type CapturedResponse,
  type CertificateSummary,
  type CipherInfo,
  type Connection,
  type Flow,
  type FlowError,
  type FlowKind,
  type Handshake,
  type HandshakeEvent,
  type Header,
  type Sender,
  type WebSocketInfo,
  type WebSocketMessage,
} from '../capture/flow.js';
import { HarError, type FailureStage } from '../errors.js';
import { contentCoding, encodeBody, isKnownCoding, textToBody } from './body.js';
import { findJsonSyntaxError } from './json-error.js';
import { completeEntries, mendTornHar } from './torn.js';
import { fromHarTimings, totalTime, toHarTimings } from './timings.js';

type Obj = Record<string, unknown>;

const EMPTY = Buffer.alloc(0);
const SCHEMES = new Set<Flow['scheme']>(['http', 'https', 'ws', 'wss', 'tcp']);
const DEFAULT_PORTS: Record<Flow['scheme'], number> = { http: 80, ws: 80, https: 443, wss: 443, tcp: 0 };
const STAGES = new Set<FailureStage>(['client-request', 'client-tls', 'dns', 'connect', 'upstream-tls', 'upstream-request', 'upstream-response', 'client-response', 'tunnel', 'intercept']);
const SENDERS = new Set<Sender>(['client', 'proxy', 'server']);
/** WebSocket binary frames carry base64 `data` (Chrome's convention). */
const OPCODE_BINARY = 2;
/** Chrome writes failures as a string `_error` without a stage; the request never got an answer. */
const FOREIGN_ERROR_STAGE: FailureStage = 'upstream-request';
/** How much of an offending value an error message quotes. */
const QUOTE_MAX = 60;

function invalid(message: string): never {
  throw new HarError('MITM_ERR_HAR_INVALID', message);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function quote(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > QUOTE_MAX ? `${s.slice(0, QUOTE_MAX)}…` : s;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function asObj(v: unknown, path: string): Obj {
  if (v === undefined) invalid(`${path} is missing`);
  if (!isObj(v)) invalid(`${path} must be an object`);
  return v;
}

function reqObj(o: Obj, key: string, path: string): Obj {
  return asObj(o[key], join(path, key));
}

function optObj(o: Obj, key: string, path: string): Obj | undefined {
  const v = o[key];
  return v === undefined || v === null ? undefined : asObj(v, join(path, key));
}

function reqStr(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (v === undefined) invalid(`${join(path, key)} is missing`);
  if (typeof v !== 'string') invalid(`${join(path, key)} must be a string`);
  return v;
}

function optStr(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') invalid(`${join(path, key)} must be a string`);
  return v;
}

function reqNum(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (v === undefined) invalid(`${join(path, key)} is missing`);
  if (typeof v !== 'number') invalid(`${join(path, key)} must be a number`);
  return v;
}

function optNum(o: Obj, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number') invalid(`${join(path, key)} must be a number`);
  return v;
}

function reqArr(o: Obj, key: string, path: string): unknown[] {
  const v = o[key];
  if (v === undefined) invalid(`${join(path, key)} is missing`);
  if (!Array.isArray(v)) invalid(`${join(path, key)} must be an array`);
  return v;
}

function optArr(o: Obj, key: string, path: string): unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) invalid(`${join(path, key)} must be an array`);
  return v;
}

/** JSON text → value; a syntax error names its line, column and position. A leading BOM is allowed. */
export function parseHarText(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    const where = findJsonSyntaxError(body);
    let at = where ? `line ${where.line}, column ${where.column} (position ${where.offset}): ${where.reason}` : (err as Error).message;
    const mended = where?.offset === body.length ? mendTornHar(body) : null;
    if (mended) at += `; it is cut off inside log.entries, as a recording stopped mid-write leaves it: \`mitmscope repair-har FILE\` keeps its ${completeEntries(mended.entries)}`;
    throw new HarError('MITM_ERR_HAR_INVALID', `the HAR is not valid JSON: ${at}`, { cause: err });
  }
}

/** The parsed root, its `log` and `log.entries`, checked for shape (entries themselves are not). */
export function harRoot(input: unknown): { root: Obj; log: Obj; entries: unknown[] } {
  const value = typeof input === 'string' ? parseHarText(input) : input instanceof Uint8Array ? parseHarText(Buffer.from(input).toString('utf8')) : input;
  if (!isObj(value)) invalid('the HAR must be a JSON object with a "log" property');
  const log = reqObj(value, 'log', '');
  return { root: value, log, entries: reqArr(log, 'entries', 'log') };
}

/**
 * Parses and validates an imported HAR (object or JSON text); throws HarError('MITM_ERR_HAR_INVALID')
 * naming the first problem. Returns new flows marked `imported: true`.
 */
export function harToFlows(input: unknown): Flow[] {
  const { entries } = harRoot(input);
  const connections = new Map<string, Connection>();
  return entries.map((e, i) => entryToFlow(e, `log.entries[${i}]`, connections));
}

function headerList(o: Obj, path: string): Header[] {
  const list = reqArr(o, 'headers', path);
  return list.map((h, i) => {
    const p = `${path}.headers[${i}]`;
    const pair = asObj(h, p);
    return [reqStr(pair, 'name', p), reqStr(pair, 'value', p)];
  });
}

/** `HTTP/1.1` (any case) → `1.1` as Node reports it; `h2` and other spellings stay as they are. */
function flowVersion(v: string | undefined): string {
  if (v === undefined || v === '') return '1.1';
  // Chrome writes `h2`; other tools `HTTP/2.0` or `HTTP/2`.
  if (/^(h2|HTTP\/2(\.0)?)$/i.test(v)) return '2';
  const m = /^HTTP\/(.+)$/i.exec(v);
  return m ? m[1]! : v;
}

function flowKind(entry: Obj): FlowKind {
  if (entry['_kind'] === 'tunnel' || entry['_kind'] === 'tls-failure') return entry['_kind'];
  if (entry['_resourceType'] === 'websocket' || Array.isArray(entry['_webSocketMessages'])) return 'websocket';
  return 'http';
}

function encodingIsBase64(o: Obj, key: string, path: string): boolean {
  const enc = optStr(o, key, path);
  if (enc === undefined || enc === '') return false;
  if (enc.toLowerCase() !== 'base64') invalid(`${join(path, key)} ${quote(enc)} is not supported (only base64)`);
  return true;
}

function postBody(pd: Obj | undefined, path: string): Buffer {
  if (!pd) return EMPTY;
  const text = optStr(pd, 'text', path);
  if (text !== undefined) return textToBody(text, encodingIsBase64(pd, '_encoding', path) || encodingIsBase64(pd, 'encoding', path));
  // Spec-strict writers give forms as params only: rebuild the urlencoded text from them.
  const params = optArr(pd, 'params', path);
  if (!params) return EMPTY;
  const form = new URLSearchParams();
  params.forEach((p, i) => {
    const pp = `${path}.params[${i}]`;
    const param = asObj(p, pp);
    form.append(reqStr(param, 'name', pp), optStr(param, 'value', pp) ?? '');
  });
  return Buffer.from(form.toString(), 'utf8');
}

function importRequest(req: Obj, path: string, kind: FlowKind): CapturedRequest {
  let url = reqStr(req, 'url', path);
  // Export wrote tunnels' authority-form target as tcp://host:port.
  const authority = kind === 'tunnel' ? /^tcp:\/\/([^/?#]*)$/i.exec(url) : null;
  if (authority) url = authority[1]!;
  const body = kind === 'tunnel' ? EMPTY : postBody(optObj(req, 'postData', path), join(path, 'postData'));
  const declared = optNum(req, 'bodySize', path) ?? -1;
  const bodySize = declared >= 0 ? declared : body.length;
  return {
    method: reqStr(req, 'method', path),
    url,
    httpVersion: flowVersion(optStr(req, 'httpVersion', path)),
    headers: headerList(req, path),
    bodySize,
    bodyTruncated: kind !== 'tunnel' && body.length < bodySize,
    body,
    trailers: [],
  };
}

function importResponse(res: Obj, path: string, kind: FlowKind, notes: string[]): CapturedResponse {
  const headers = headerList(res, path);
  const cp = join(path, 'content');
  const content = reqObj(res, 'content', path);
  const text = optStr(content, 'text', cp);
  const bytes = text === undefined ? EMPTY : textToBody(text, encodingIsBase64(content, 'encoding', cp));
  const declared = optNum(res, 'bodySize', path) ?? -1;
  const size = optNum(content, 'size', cp) ?? declared;
  const base = { status: reqNum(res, 'status', path), statusText: optStr(res, 'statusText', path) ?? '', httpVersion: flowVersion(optStr(res, 'httpVersion', path)), headers, trailers: [] };
  if (kind === 'tunnel') return { ...base, body: EMPTY, bodySize: Math.max(declared, 0), bodyTruncated: false };
  const coding = contentCoding(headers);
  const stillEncoded = optStr(content, '_contentEncoding', cp) !== undefined;
  if (coding !== null && !stillEncoded && bytes.length > 0) {
    // HAR text is decoded; the captured body is what crossed the wire, so apply the coding again.
    let body = bytes;
    if (isKnownCoding(coding)) body = encodeBody(bytes, coding);
    else notes.push(`response body imported decoded: Content-Encoding ${coding} could not be re-applied`);
    return { ...base, body, bodySize: declared >= 0 ? declared : body.length, bodyTruncated: false };
  }
  // Without text (some tools leave bodies out) nothing was kept: that is a truncation to 0 bytes.
  return { ...base, body: bytes, bodySize: declared >= 0 ? declared : Math.max(size, bytes.length), bodyTruncated: bytes.length < size };
}

function importError(entry: Obj, path: string): FlowError | null {
  const e = entry['_error'];
  if (e === undefined || e === null) return null;
  if (typeof e === 'string') return { stage: FOREIGN_ERROR_STAGE, code: e, message: e };
  const p = join(path, '_error');
  const o = asObj(e, p);
  const stage = optStr(o, 'stage', p);
  return {
    stage: stage !== undefined && STAGES.has(stage as FailureStage) ? (stage as FailureStage) : FOREIGN_ERROR_STAGE,
    code: optStr(o, 'code', p) ?? 'unknown',
    message: optStr(o, 'message', p) ?? '',
  };
}

function strOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function cipherInfo(v: unknown): CipherInfo | null {
  if (!isObj(v) || typeof v['id'] !== 'number' || typeof v['name'] !== 'string') return null;
  const s = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : '');
  return { ...v, id: v['id'], name: v['name'], keyExchange: s('keyExchange'), authentication: s('authentication'), encryption: s('encryption'), mac: s('mac') };
}

function certificate(v: unknown): CertificateSummary[] {
  if (!isObj(v)) return [];
  const s = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : '');
  return [{ ...v, subject: s('subject'), issuer: s('issuer'), notBefore: s('notBefore'), notAfter: s('notAfter'), sans: strings(v['sans']), sha256: s('sha256') }];
}

function handshakeEvent(v: unknown): HandshakeEvent[] {
  if (!isObj(v) || typeof v['t'] !== 'number' || typeof v['type'] !== 'string' || !SENDERS.has(v['from'] as Sender)) return [];
  return [{ ...v, t: v['t'], from: v['from'] as Sender, type: v['type'], details: isObj(v['details']) ? v['details'] : {} }];
}

/** Unknown fields are kept (newer writers); known ones are coerced to their types so the UI can trust them. */
function handshake(v: unknown): Handshake | null {
  if (!isObj(v)) return null;
  return {
    ...emptyHandshake(),
    ...v,
    version: strOrNull(v['version']),
    cipher: cipherInfo(v['cipher']),
    sni: strOrNull(v['sni']),
    alpn: strOrNull(v['alpn']),
    alpnOffered: strings(v['alpnOffered']),
    ja3: strOrNull(v['ja3']),
    ja3String: strOrNull(v['ja3String']),
    ja4: strOrNull(v['ja4']),
    offeredCiphers: Array.isArray(v['offeredCiphers']) ? v['offeredCiphers'].filter((n): n is number => typeof n === 'number') : [],
    group: strOrNull(v['group']),
    certificates: Array.isArray(v['certificates']) ? v['certificates'].flatMap(certificate) : [],
    events: Array.isArray(v['events']) ? v['events'].flatMap(handshakeEvent) : [],
    error: strOrNull(v['error']),
    fallback: strOrNull(v['fallback']),
    resumed: v['resumed'] === true,
  };
}

function webSocketInfo(entry: Obj, path: string, headers: readonly Header[]): WebSocketInfo | null {
  const list = optArr(entry, '_webSocketMessages', path);
  if (!list) return null;
  const messages: WebSocketMessage[] = [];
  list.forEach((m, i) => {
    const p = `${join(path, '_webSocketMessages')}[${i}]`;
    const o = asObj(m, p);
    const type = reqStr(o, 'type', p);
    if (type !== 'send' && type !== 'receive') invalid(`${p}.type must be "send" or "receive"`);
    const opcode = reqNum(o, 'opcode', p);
    const data = reqStr(o, 'data', p);
    const size = optNum(o, 'size', p) ?? (opcode === OPCODE_BINARY ? Buffer.from(data, 'base64').length : Buffer.byteLength(data));
    messages.push({ type, time: reqNum(o, 'time', p), opcode, size, data, truncated: o['truncated'] === true });
  });
  const meta = isObj(entry['_webSocket']) ? entry['_webSocket'] : {};
  const closedBy = meta['closedBy'] === 'client' || meta['closedBy'] === 'server' ? meta['closedBy'] : null;
  return {
    protocol: meta['protocol'] !== undefined ? strOrNull(meta['protocol']) : (headerValue(headers, 'sec-websocket-protocol') ?? null),
    extensions: meta['extensions'] !== undefined ? strOrNull(meta['extensions']) : (headerValue(headers, 'sec-websocket-extensions') ?? null),
    messages,
    closeCode: typeof meta['closeCode'] === 'number' ? meta['closeCode'] : null,
    closeReason: strOrNull(meta['closeReason']),
    closedBy,
  };
}

function entryToFlow(value: unknown, path: string, connections: Map<string, Connection>): Flow {
  const entry = asObj(value, path);
  const started = reqStr(entry, 'startedDateTime', path);
  const startedAt = Date.parse(started);
  if (Number.isNaN(startedAt)) invalid(`${path}.startedDateTime is not a date: ${quote(started)}`);
  const kind = flowKind(entry);
  const rp = join(path, 'request');
  const req = reqObj(entry, 'request', path);
  const request = importRequest(req, rp, kind);
  const harUrl = reqStr(req, 'url', rp);
  let url: URL;
  try {
    url = new URL(harUrl);
  } catch {
    invalid(`${rp}.url is not an absolute URL: ${quote(harUrl)}`);
  }
  const protocol = url.protocol.slice(0, -1) as Flow['scheme'];
  const scheme = SCHEMES.has(protocol) ? protocol : 'http';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[scheme];

  const notes: string[] = strings(entry['_notes']);
  const sp = join(path, 'response');
  const res = reqObj(entry, 'response', path);
  const status = reqNum(res, 'status', sp);
  headerList(res, sp); // checked even when the placeholder below is dropped: the file must be sound
  // Status 0 is the placeholder for "no response" (ours and Chrome's).
  const response = status === 0 ? null : importResponse(res, sp, kind, notes);

  const tls = isObj(entry['_tls']) ? entry['_tls'] : {};
  const clientTls = handshake(tls['client']);
  const serverTls = handshake(tls['server']);
  const serverIp = optStr(entry, 'serverIPAddress', path) ?? null;
  const connectionId = optStr(entry, 'connection', path);
  let serverConnection: Connection | null = connectionId === undefined ? null : (connections.get(connectionId) ?? null);
  if (!serverConnection && (connectionId !== undefined || serverTls)) {
    serverConnection = { id: connectionId ?? newId(), side: 'server', address: serverIp ?? '', port, host, openedAt: startedAt, closedAt: null, tls: serverTls };
    if (connectionId !== undefined) connections.set(connectionId, serverConnection);
  }
  const clientConnection: Connection | null = clientTls
    ? { id: newId(), side: 'client', address: '', port: 0, host: clientTls.sni ?? host, openedAt: startedAt, closedAt: null, tls: clientTls }
    : null;

  const harTimings = optObj(entry, 'timings', path) ?? {};
  const tp = join(path, 'timings');
  const timings = fromHarTimings({
    blocked: optNum(harTimings, 'blocked', tp),
    dns: optNum(harTimings, 'dns', tp),
    connect: optNum(harTimings, 'connect', tp),
    ssl: optNum(harTimings, 'ssl', tp),
    send: optNum(harTimings, 'send', tp),
    wait: optNum(harTimings, 'wait', tp),
    receive: optNum(harTimings, 'receive', tp),
  });
  const error = importError(entry, path);

  const flow = createFlow({ kind, scheme, host, port, request, clientConnection, startedAt });
  flow.state = error ? 'error' : 'complete';
  flow.duration = optNum(entry, 'time', path) ?? totalTime(toHarTimings(timings));
  flow.response = response;
  flow.error = error;
  flow.timings = timings;
  flow.serverConnection = serverConnection;
  flow.serverIPAddress = serverIp;
  flow.websocket = webSocketInfo(entry, path, response?.headers ?? []);
  flow.imported = true;
  flow.notes = notes;
  return flow;
}
