/**
 * An HTTP/1.1 client's exchange relayed onto an upstream that speaks only HTTP/2 (it refused our
 * http/1.1 offer with alert no_application_protocol): the request line and Host become
 * pseudo-headers, hop-by-hop fields stay behind (RFC 9113 §8.2.2), HTTP/2 trailers go out as
 * chunked trailers.
 */
import http2, { type IncomingHttpHeaders } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createFlow, emptyRequest, pairHeaders, roundMs, setSendWait, type Connection } from '../../capture/flow.js';
import type { FlowStore } from '../../capture/store.js';
import { BodyCapture } from '../../capture/body-capture.js';
import { MitmError, UpstreamError } from '../../errors.js';
import { sendErrorResponse } from '../error-response.js';
import { hostPort, originForm } from '../forward.js';
import type { UpstreamTarget } from '../upstream.js';
import { attachFailedUpstream, attachUpstream, nowMs } from '../socket-state.js';
import { errorCodeName } from './frames.js';
import { h1RequestToH2, h2ResponseToH1 } from './translate.js';
import { objectPairs, type ExchangeLimits } from './exchange.js';
import type { Route } from './session-pool.js';
import { streamTimer } from './stream-timer.js';

const { NGHTTP2_NO_ERROR, HTTP2_HEADER_STATUS } = http2.constants;

export function relayFromH1(req: IncomingMessage, res: ServerResponse, target: UpstreamTarget, client: Connection | null, route: Extract<Route, { kind: 'h2' }>, store: FlowStore, limits: ExchangeLimits): void {
  const tRequest = nowMs();
  const label = hostPort(target);
  const path = originForm(req.url ?? '/');
  const request = emptyRequest(req.method ?? 'GET', `${target.scheme}://${label}${path}`, req.httpVersion);
  request.headers = pairHeaders(req.rawHeaders);
  const flow = createFlow({ kind: 'http', scheme: target.scheme, host: target.host, port: target.port, request, clientConnection: client });
  flow.http2 = [];
  store.add(flow);
  let settled = false;
  const finish = (error: MitmError | null): void => {
    if (settled) return;
    settled = true;
    flow.duration = roundMs(nowMs() - tRequest);
    flow.state = error ? 'error' : 'complete';
    if (error) flow.error = { stage: error instanceof UpstreamError ? error.stage : 'client-request', code: error.code, message: error.message };
    attachFailedUpstream(flow, error);
    store.update(flow);
  };

  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  const up = route.session.request(h1RequestToH2(request.method, path, target.scheme, request.headers), { endStream: !hasBody });
  const tSocket = nowMs();
  attachUpstream(flow, route.socket, tRequest, tSocket);
  if (up.id !== undefined) flow.http2.push(route.tap.stream(up.id));
  let tSent = 0;
  up.on('finish', () => (tSent = nowMs()));
  const requestCapture = new BodyCapture(request, limits.maxBody, store.bodySink(flow, 'request'));
  req.on('data', (chunk: Buffer) => requestCapture.push(chunk));
  req.on('end', () => requestCapture.finish());
  if (hasBody) req.pipe(up);
  const headersTimer = streamTimer(up, limits.headersTimeout, 'none', () =>
    up.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no response headers within ${limits.headersTimeout} ms`)),
  );

  up.on('response', (headers: IncomingHttpHeaders, _flags: number, rawHeaders?: string[]) => {
    headersTimer.cancel();
    const tResponse = nowMs();
    setSendWait(flow.timings, { request: tRequest, socket: tSocket, sent: tSent, response: tResponse });
    const pairs = rawHeaders ? pairHeaders(rawHeaders) : objectPairs(headers);
    const response = { status: Number(headers[HTTP2_HEADER_STATUS] ?? 0), statusText: '', httpVersion: '2', headers: pairs, bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] as typeof pairs };
    flow.response = response;
    store.update(flow);
    const bodyTimer = streamTimer(up, limits.bodyTimeout, 'data', () =>
      up.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no body data for ${limits.bodyTimeout} ms`)),
    );
    res.writeHead(response.status, h2ResponseToH1(pairs).flat());
    const capture = new BodyCapture(response, limits.maxBody, store.bodySink(flow, 'response'));
    up.on('data', (chunk: Buffer) => capture.push(chunk));
    up.on('trailers', (t: IncomingHttpHeaders) => {
      response.trailers = objectPairs(t);
      // Trailers travel only on a chunked body (no content-length).
      if (!res.hasHeader('content-length')) res.addTrailers(response.trailers);
    });
    up.on('end', () => {
      bodyTimer.cancel();
      capture.finish();
      flow.timings.receive = roundMs(nowMs() - tResponse);
    });
    up.pipe(res);
  });
  let failure: MitmError | null = null;
  up.on('error', (err: Error) => {
    failure = err instanceof MitmError ? err : new UpstreamError('MITM_ERR_UPSTREAM_RESET', flow.response ? 'upstream-response' : 'upstream-request', label, `${label}: ${err.message}`);
  });
  up.on('close', () => {
    const code = up.rstCode ?? NGHTTP2_NO_ERROR;
    if (code !== NGHTTP2_NO_ERROR && !failure) failure = new UpstreamError('MITM_ERR_H2_STREAM_RESET', flow.response ? 'upstream-response' : 'upstream-request', label, `${label} reset the stream with RST_STREAM ${errorCodeName(code)}`);
    if (!failure) return;
    finish(failure);
    if (res.headersSent) res.destroy();
    else sendErrorResponse(res, failure);
  });
  res.on('finish', () => finish(null));
  res.on('close', () => {
    if (res.writableFinished) return;
    if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
    finish(new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client closed the connection before the exchange finished'));
  });
}
