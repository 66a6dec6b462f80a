/**
 * An HTTP/2 client stream relayed onto a stream of the origin's shared upstream HTTP/2 session.
 * Bodies are piped, so HTTP/2 flow control holds on both legs: a slow reader stalls its own
 * stream only. Trailers cross both ways; a reset on one leg reaches the other with its code.
 */
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { pairHeaders, type Header } from '../../capture/flow.js';
import { MitmError, UpstreamError } from '../../errors.js';
import { attachUpstream, nowMs } from '../socket-state.js';
import { errorCodeName } from './frames.js';
import { h2Forwardable, trailersForH2 } from './translate.js';
import { objectPairs, type H2Exchange } from './exchange.js';
import type { Route } from './session-pool.js';
import { holdUpstreamResponse } from './held.js';
import type { HeldRequest } from './intercept.js';
import { streamTimer } from './stream-timer.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, HTTP2_HEADER_STATUS } = http2.constants;
const END_STREAM = 0x1;

/** `held`: a request the rules held whole (its body is sent from memory, its response may be held too). */
export function relayToH2(ex: H2Exchange, route: Extract<Route, { kind: 'h2' }>, requestHeaders: readonly Header[], endStream: boolean, held: HeldRequest | null = null): void {
  const { stream, flow, label } = ex;
  const request = flow.request;
  let up: ClientHttp2Stream;
  // A held request's trailers (read with its body) go on after it, as a streamed one's do.
  const heldTrailers = held !== null && request.trailers.length > 0;
  const ends = endStream && !heldTrailers;
  try {
    up = route.session.request(h2Forwardable(requestHeaders), { endStream: ends, waitForTrailers: !ends });
  } catch (err) {
    ex.abort(new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-request', label, `${label} cannot take a new stream: ${(err as Error).message}`));
    return;
  }
  ex.tSocket = nowMs();
  attachUpstream(flow, route.socket, ex.tRequest, ex.tSocket);
  // On a connected session the stream id is assigned (and 'ready' emitted) inside request().
  const timeStream = (): void => void flow.http2?.push(route.tap.stream(up.id ?? 0));
  if (up.id !== undefined) timeStream();
  else up.once('ready', timeStream);

  if (!ends) up.on('wantTrailers', () => up.sendTrailers(trailersForH2(request.trailers)));
  if (held) {
    if (!ends) up.end(held.body);
  } else if (!endStream) {
    const capture = ex.capture(request, 'request');
    stream.on('data', (chunk: Buffer) => capture.push(chunk));
    stream.on('end', () => capture.finish());
    stream.pipe(up);
  }
  up.on('finish', () => {
    ex.tSent = nowMs();
  });
  const headersTimer = streamTimer(up, ex.limits.headersTimeout, 'none', () => {
    ex.abort(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no response headers within ${ex.limits.headersTimeout} ms`));
    up.close(NGHTTP2_CANCEL);
  });

  up.on('response', (headers: IncomingHttpHeaders, flags: number, rawHeaders?: string[]) => {
    headersTimer.cancel();
    ex.responded();
    const pairs = rawHeaders ? pairHeaders(rawHeaders) : objectPairs(headers);
    const status = Number(headers[HTTP2_HEADER_STATUS] ?? 0);
    flow.response = { status, statusText: '', httpVersion: '2', headers: pairs, bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    ex.update();
    const ended = (flags & END_STREAM) !== 0;
    if (!ended) {
      const bodyTimer = streamTimer(up, ex.limits.bodyTimeout, 'data', () => {
        ex.abort(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no body data for ${ex.limits.bodyTimeout} ms`));
        up.close(NGHTTP2_CANCEL);
      });
      up.once('end', () => bodyTimer.cancel());
    }
    if (stream.destroyed) return;
    const streamOn = (head: Buffer[]): void => {
      // A trailers-only answer (gRPC errors) must stay one HEADERS frame with END_STREAM.
      stream.respond(h2Forwardable(pairs), { endStream: ended, waitForTrailers: !ended });
      if (ended) return;
      for (const chunk of head) stream.write(chunk);
      stream.on('wantTrailers', () => stream.sendTrailers(trailersForH2(flow.response?.trailers ?? [])));
      up.pipe(stream);
    };
    if (ended && !held?.response) return streamOn([]);
    const capture = ex.capture(flow.response, 'response');
    up.on('data', (chunk: Buffer) => capture.push(chunk));
    up.on('trailers', (t: IncomingHttpHeaders) => {
      if (flow.response) flow.response.trailers = objectPairs(t);
    });
    up.on('end', () => capture.finish());
    if (held?.response) holdUpstreamResponse(ex, held.response, up, streamOn);
    else streamOn([]);
  });

  up.on('error', () => {});
  up.on('close', () => {
    const code = up.rstCode ?? NGHTTP2_NO_ERROR;
    if (ex.settled || code === NGHTTP2_NO_ERROR) return;
    const name = errorCodeName(code);
    ex.abort(new UpstreamError('MITM_ERR_H2_STREAM_RESET', flow.response ? 'upstream-response' : 'upstream-request', label, `${label} reset the stream with RST_STREAM ${name}`), code);
  });
  // Done once the whole answer is handed to the client's session (as an HTTP/1.1 'finish').
  stream.on('finish', () => {
    if (flow.response) ex.complete();
  });
  stream.on('close', () => {
    const code = stream.rstCode ?? NGHTTP2_NO_ERROR;
    if (code !== NGHTTP2_NO_ERROR && !up.closed) up.close(code);
    if (ex.settled) return;
    if (code !== NGHTTP2_NO_ERROR || !stream.writableFinished) {
      ex.fail(flow.response ? 'client-response' : 'client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', `the client reset the stream with RST_STREAM ${errorCodeName(code)}`));
      return;
    }
    ex.complete();
  });
}
