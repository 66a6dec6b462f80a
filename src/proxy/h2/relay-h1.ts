/**
 * An HTTP/2 client stream relayed to an HTTP/1.1 upstream through the origin's keep-alive pool:
 * pseudo-headers become the request line and Host, connection-specific fields are dropped
 * (RFC 9113 §8.2.2), chunked trailers map to HTTP/2 trailers and back.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { capturedResponse, pairHeaders, type Header } from '../../capture/flow.js';
import { MitmError, UpstreamError } from '../../errors.js';
import type { Upstream } from '../upstream.js';
import { attachUpstream, nowMs } from '../socket-state.js';
import { bareHost } from '../hosts.js';
import { h1ResponseToH2, h2RequestToH1, trailersForH2, toOutgoing } from './translate.js';
import type { H2Exchange } from './exchange.js';
import { holdUpstreamResponse } from './held.js';
import type { HeldRequest } from './intercept.js';

/** Methods whose requests carry no body unless framed: the HTTP/1.1 side then needs chunking. */
/** Methods safe to send twice (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** `held`: a request the rules held whole (its body is sent from memory, its response may be held too). */
export function relayToH1(ex: H2Exchange, upstream: Upstream, requestHeaders: readonly Header[], endStream: boolean, held: HeldRequest | null = null): void {
  const { stream, flow, label, target } = ex;
  const h1 = h2RequestToH1(requestHeaders);
  const headers: Header[] = [...h1.headers];
  const hasLength = headers.some(([k]) => k === 'content-length');
  // A streamed HTTP/2 body without content-length goes chunked, which also carries trailers.
  const chunked = !endStream && !hasLength;
  if (chunked && BODYLESS_BY_DEFAULT.has(h1.method)) headers.push(['transfer-encoding', 'chunked']);
  const open = (): http.ClientRequest => http.request({
    method: h1.method,
    path: h1.path,
    host: bareHost(target.host),
    port: target.port,
    protocol: `${target.scheme}:`,
    agent: upstream.agentFor(target),
    headers: toOutgoing(headers),
    setHost: false,
  });
  let req = open();
  let reused = false;
  let retried = false;
  const watch = (r: http.ClientRequest): void => {
    r.on('socket', (socket: Socket) => {
      ex.tSocket = nowMs();
      reused = (attachUpstream(flow, socket, ex.tRequest, ex.tSocket)?.uses ?? 0) > 1;
    });
    r.on('error', (err) => {
      if (retryStale(err)) return;
      fail(err);
    });
  };
  /**
   * As on HTTP/1.1 (RFC 9112 §9.3.1): a bodiless idempotent request that met a keep-alive
   * connection the server had dropped is sent once more on a fresh one.
   */
  const retryStale = (err: Error): boolean => {
    const code = (err as NodeJS.ErrnoException).code;
    if (retried || !reused || flow.response || !endStream || !IDEMPOTENT.has(h1.method)) return false;
    if (code !== 'ECONNRESET' && code !== 'EPIPE') return false;
    retried = true;
    reused = false;
    flow.notes.push('retried on a fresh connection: the reused keep-alive connection was reset');
    req = open();
    wire(req);
    req.end();
    return true;
  };
  const wire = (r: http.ClientRequest): void => {
    watch(r);
    r.on('finish', () => {
      ex.tSent = nowMs();
    });
    r.setTimeout(ex.limits.headersTimeout, () => {
      // The socket's inactivity timer also serves the body timeout below: that one speaks then.
      if (flow.response) return;
      r.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no response headers within ${ex.limits.headersTimeout} ms`));
    });
    r.on('response', (res: IncomingMessage) => onResponse(res));
  };
  wire(req);

  if (endStream) req.end();
  else if (held) req.end(held.body);
  else {
    const capture = ex.capture(flow.request, 'request');
    stream.on('data', (chunk: Buffer) => capture.push(chunk));
    stream.on('end', () => {
      capture.finish();
      if (flow.request.trailers.length > 0 && chunked) req.addTrailers(toOutgoing(flow.request.trailers));
      req.end();
    });
    stream.pipe(req, { end: false });
  }

  const onResponse = (res: IncomingMessage): void => {
    ex.responded();
    flow.response = capturedResponse(res);
    ex.update();
    res.setTimeout(ex.limits.bodyTimeout, () => {
      res.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no body data for ${ex.limits.bodyTimeout} ms`));
    });
    if (stream.destroyed) {
      res.destroy();
      return;
    }
    const streamOn = (head: Buffer[]): void => {
      stream.respond(h1ResponseToH2(res.statusCode ?? 502, pairHeaders(res.rawHeaders)), { waitForTrailers: true });
      for (const chunk of head) stream.write(chunk);
      stream.on('wantTrailers', () => stream.sendTrailers(trailersForH2(flow.response?.trailers ?? [])));
      res.pipe(stream);
    };
    const capture = ex.capture(flow.response, 'response');
    res.on('data', (chunk: Buffer) => capture.push(chunk));
    res.on('end', () => {
      capture.finish();
      if (res.rawTrailers.length > 0 && flow.response) flow.response.trailers = pairHeaders(res.rawTrailers);
    });
    res.on('error', (err) => fail(err));
    res.on('close', () => {
      if (!res.complete) fail(null);
    });
    if (held?.response) holdUpstreamResponse(ex, held.response, res, streamOn);
    else streamOn([]);
  };

  const fail = (err: Error | null): void => {
    if (ex.settled) return;
    if (err instanceof MitmError) return ex.abort(err);
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (stream.destroyed) return ex.abort(new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client reset the stream before the exchange finished'));
    if (code?.startsWith('HPE_')) return ex.abort(new UpstreamError('MITM_ERR_UPSTREAM_PROTOCOL', 'upstream-response', label, `${label} sent invalid HTTP (${err?.message})`));
    // Worded as the HTTP/1.1 forwarder words it: where in the exchange the server went away.
    if (!flow.response && (code === 'ECONNRESET' || code === 'EPIPE')) {
      return ex.abort(new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-request', label, `${label} reset the connection before sending a response`));
    }
    const during = flow.response ? `after ${flow.response.bodySize} bytes of the response body` : 'before sending a response';
    ex.abort(new UpstreamError('MITM_ERR_UPSTREAM_RESET', flow.response ? 'upstream-response' : 'upstream-request', label, `${label} closed the connection ${during}`));
  };
  // Done once the whole answer is handed to the client's session (as an HTTP/1.1 'finish').
  stream.on('finish', () => {
    if (flow.response) ex.complete();
  });
  stream.on('close', () => {
    if (ex.settled) return;
    if (!stream.writableFinished) {
      req.destroy();
      ex.fail(flow.response ? 'client-response' : 'client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client reset the stream before the exchange finished'));
      return;
    }
    ex.complete();
  });
}
