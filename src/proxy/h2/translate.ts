/**
 * Header translation between HTTP/2 and HTTP/1.1, sans-IO. HTTP/2 carries the request line and
 * status as pseudo-headers and forbids connection-specific fields (RFC 9113 §8.2.2); HTTP/1.1
 * has a Host header and hop-by-hop fields. Headers go in as wire-order pairs and come out as
 * what Node's http and http2 modules take.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Header } from '../../capture/flow.js';
import { namedInConnection } from '../hop-by-hop.js';

/** RFC 9113 §8.2.2 (and RFC 9110 §7.6.1's proxy fields): never sent on an HTTP/2 connection. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'http2-settings']);

export interface H1Request {
  method: string;
  path: string;
  authority: string;
  headers: Header[];
}

/** A field that may cross to an HTTP/2 peer; `te` only as `trailers` (RFC 9113 §8.2.2). */
function allowedOnH2(name: string, value: string, named: Set<string>): boolean {
  if (CONNECTION_SPECIFIC.has(name) || named.has(name)) return false;
  if (name === 'te') return value.trim().toLowerCase() === 'trailers';
  return true;
}

/** Pairs as an object for Node, repeated fields as arrays (`set-cookie` keeps each value). */
export function toOutgoing(headers: readonly Header[], into: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    const prev = into[name];
    if (prev === undefined) into[name] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else into[name] = [String(prev), v];
  }
  return into;
}

/** An HTTP/2 request head as an HTTP/1.1 one: pseudo-headers become the request line and Host. */
export function h2RequestToH1(headers: readonly Header[]): H1Request {
  let method = 'GET';
  let path = '/';
  let authority = '';
  const rest: Header[] = [];
  const cookies: string[] = [];
  for (const [k, v] of headers) {
    if (k === ':method') method = v;
    else if (k === ':path') path = v;
    else if (k === ':authority') authority = v;
    else if (k.startsWith(':')) continue;
    // RFC 9113 §8.2.3: split cookie fields are joined with "; " for HTTP/1.1.
    else if (k === 'cookie') cookies.push(v);
    else if (!CONNECTION_SPECIFIC.has(k)) rest.push([k, v]);
  }
  if (cookies.length > 0) rest.push(['cookie', cookies.join('; ')]);
  const host = rest.find(([k]) => k === 'host');
  if (!host && authority) rest.unshift(['host', authority]);
  return { method, path, authority: authority || host?.[1] || '', headers: rest };
}

/** An HTTP/1.1 request head as HTTP/2 headers for Node's `session.request`. */
export function h1RequestToH2(method: string, path: string, scheme: string, headers: readonly Header[]): OutgoingHttpHeaders {
  const named = namedInConnection(headers);
  const host = headers.find(([k]) => k.toLowerCase() === 'host')?.[1] ?? '';
  const out: OutgoingHttpHeaders = { ':method': method, ':scheme': scheme, ':authority': host, ':path': path };
  if (method === 'CONNECT') {
    delete out[':scheme'];
    delete out[':path'];
  }
  return toOutgoing(
    headers.filter(([k, v]) => {
      const name = k.toLowerCase();
      return name !== 'host' && allowedOnH2(name, v, named);
    }),
    out,
  );
}

/** Headers an HTTP/2 peer may receive, pseudo-headers kept (HTTP/2 to HTTP/2). */
export function h2Forwardable(headers: readonly Header[]): OutgoingHttpHeaders {
  const named = namedInConnection(headers);
  return toOutgoing(headers.filter(([k, v]) => allowedOnH2(k.toLowerCase(), v, named)));
}

/** An HTTP/1.1 response head as HTTP/2 headers for `stream.respond`. */
export function h1ResponseToH2(status: number, headers: readonly Header[]): OutgoingHttpHeaders {
  const named = namedInConnection(headers);
  return toOutgoing(
    headers.filter(([k, v]) => allowedOnH2(k.toLowerCase(), v, named)),
    { ':status': status },
  );
}

/** An HTTP/2 response's fields for an HTTP/1.1 client: pseudo-headers dropped. */
export function h2ResponseToH1(headers: readonly Header[]): Header[] {
  return headers.filter(([k]) => !k.startsWith(':'));
}

/** Trailers as HTTP/2 may carry them: no pseudo-headers, no connection-specific fields. */
export function trailersForH2(headers: readonly Header[]): OutgoingHttpHeaders {
  return toOutgoing(headers.filter(([k, v]) => !k.startsWith(':') && allowedOnH2(k.toLowerCase(), v, new Set())));
}

/**
 * Field names HTTP/2 forbids in a list (RFC 9113 §8.2.2), lower-case, each once: connection-
 * specific fields, those named in `Connection`, and `te` other than `trailers`.
 */
export function forbiddenOnH2(headers: readonly Header[]): string[] {
  const named = namedInConnection(headers);
  const out = new Set<string>();
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    if (!name.startsWith(':') && !allowedOnH2(name, v, named)) out.add(name);
  }
  return [...out];
}

/**
 * A request draft (method, URL, fields) as HTTP/2 request pairs: pseudo-headers made from the
 * method and URL (they win over any pseudo-header lines in the fields), then the fields with
 * lower-case names and without those HTTP/2 forbids.
 */
export function draftToH2Request(method: string, url: URL, headers: readonly Header[]): Header[] {
  const pairs: Header[] = [
    [':method', method],
    [':scheme', url.protocol.slice(0, -1)],
    [':authority', url.host],
    [':path', `${url.pathname}${url.search}`],
  ];
  const forbidden = new Set(forbiddenOnH2(headers));
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    if (!name.startsWith(':') && !forbidden.has(name)) pairs.push([name, v]);
  }
  return pairs;
}

/** A response draft's fields as HTTP/2 headers for `stream.respond`: `:status` from `status`. */
export function draftToH2Response(status: number, headers: readonly Header[]): OutgoingHttpHeaders {
  return h1ResponseToH2(status, headers.filter(([k]) => !k.startsWith(':')));
}
