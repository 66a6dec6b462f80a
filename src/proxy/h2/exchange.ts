/**
 * One HTTP/2 stream of a client connection as a Flow: its request head in wire order (pseudo-
 * headers included), bodies captured as they stream, trailers, timings, and how it ended. The
 * relays (to an HTTP/2 or an HTTP/1.1 upstream) drive it; it answers the client when they fail.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { failedTimings, roundMs, setSendWait, type CapturedMessage, type Flow, type Header } from '../../capture/flow.js';
import type { FlowStore } from '../../capture/store.js';
import { BodyCapture } from '../../capture/body-capture.js';
import { MitmError, UpstreamError, statusFor, type FailureStage } from '../../errors.js';
import { ERROR_HEADER } from '../error-response.js';
import { attachFailedUpstream, nowMs } from '../socket-state.js';
import { hostPort, type ForwardTarget } from '../forward.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

export interface ExchangeLimits {
  maxBody: number;
  headersTimeout: number;
  bodyTimeout: number;
}

/** Trailers and other header objects Node hands over without raw pairs. */
export function objectPairs(headers: IncomingHttpHeaders): Header[] {
  const out: Header[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push([k, String(one)]);
  }
  return out;
}

export class H2Exchange {
  readonly tRequest = nowMs();
  tSocket = 0;
  tSent = 0;
  tResponse = 0;
  settled = false;

  constructor(
    readonly flow: Flow,
    readonly stream: ServerHttp2Stream,
    /** Where the stream goes; a rule or an edit may move it to another origin before it is sent. */
    public target: ForwardTarget,
    public label: string,
    private readonly store: FlowStore,
    readonly limits: ExchangeLimits,
  ) {}

  capture(message: CapturedMessage, part: 'request' | 'response'): BodyCapture {
    return new BodyCapture(message, this.limits.maxBody, this.store.bodySink(this.flow, part));
  }

  update(): void {
    this.store.update(this.flow);
  }

  /** The upstream answered: HAR send and wait are known. */
  responded(): void {
    this.tResponse = nowMs();
    setSendWait(this.flow.timings, { request: this.tRequest, socket: this.tSocket, sent: this.tSent, response: this.tResponse });
  }

  /** A rule or an edit moved the request to another origin: the flow says where it went. */
  retarget(target: ForwardTarget): void {
    this.target = target;
    this.label = hostPort(target);
    Object.assign(this.flow, { scheme: target.scheme, host: target.host, port: target.port });
  }

  /** Answered here (a rule, a HAR): as on HTTP/1.1, no connection and no wait. */
  answeredLocally(): void {
    this.tResponse = nowMs();
    setSendWait(this.flow.timings, { request: this.tRequest, socket: this.tRequest, sent: this.tResponse, response: this.tResponse });
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }

  fail(stage: FailureStage, err: MitmError): void {
    if (!this.settle()) return;
    const end = nowMs();
    this.flow.state = 'error';
    this.flow.error = { stage, code: err.code, message: err.message };
    attachFailedUpstream(this.flow, err);
    // As on HTTP/1.1: only the phases that ran get times, the failing one up to the failure.
    failedTimings(this.flow.timings, { tRequest: this.tRequest, tSocket: this.tSocket, tSent: this.tSent, tResponse: this.tResponse, socketSeen: this.tSocket > 0 }, end, err instanceof UpstreamError ? err.phases : null);
    this.flow.duration = roundMs(end - this.tRequest);
    this.store.update(this.flow);
  }

  complete(): void {
    if (!this.settle()) return;
    const end = nowMs();
    if (this.tResponse) this.flow.timings.receive = roundMs(end - this.tResponse);
    this.flow.duration = roundMs(end - this.tRequest);
    this.flow.state = 'complete';
    this.store.update(this.flow);
  }

  /**
   * Records the failure and tells the client: with `rstCode` (a reset to pass on) a RST_STREAM
   * with that code, else an error answer if nothing was sent yet, else a reset.
   */
  abort(err: MitmError, rstCode?: number, stage: FailureStage = err instanceof UpstreamError ? err.stage : 'client-request'): void {
    this.fail(stage, err);
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    if (rstCode === undefined && !s.headersSent) {
      const body = `mitmscope: ${err.message}\n`;
      s.respond({
        ':status': statusFor(err.code),
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-content-type-options': 'nosniff',
        [ERROR_HEADER.toLowerCase()]: err.code,
      });
      s.end(body);
      return;
    }
    s.close(rstCode === undefined || rstCode === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : rstCode);
  }
}
