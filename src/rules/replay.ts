/**
 * Edit and resend: a captured (or imported) request goes out again through the proxy's own
 * upstream path — the same pools, TLS, handshake taps and capture — as a new flow that names
 * the one it resent. Rules do not apply: a resend is sent as it was edited.
 */
import http from 'node:http';
import {
  capturedResponse,
  createFlow,
  emptyRequest,
  pairHeaders,
  roundMs,
  setSendWait,
  type Flow,
} from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import { BodyCapture } from '../capture/body-capture.js';
import { MitmError, UpstreamError } from '../errors.js';
import type { Upstream } from '../proxy/upstream.js';
import { attachUpstream, nowMs } from '../proxy/socket-state.js';
import { withoutHopByHop, REQUEST_HOP_BY_HOP } from '../proxy/hop-by-hop.js';
import { targetOf } from './target.js';
import { applyRequestEdits, fixLength, type RequestDraft, type RequestEdits } from './edits.js';

/** Headers about the client↔proxy hop (and those its Connection named) or the old framing; Node frames the resend itself. */
const NOT_RESENT = [...REQUEST_HOP_BY_HOP, 'transfer-encoding'];

export interface ReplayOptions {
  store: FlowStore;
  upstream: Upstream;
  maxBody: number;
  headersTimeout: number;
  bodyTimeout: number;
}

/**
 * The draft a resend starts from: the source's request with its stored body (`body`), edited.
 * Throws MITM_ERR_CANNOT_REPLAY when the flow cannot be resent.
 */
export function replayDraft(source: Flow, body: Buffer, edits: RequestEdits): RequestDraft {
  if (source.kind !== 'http') throw new MitmError('MITM_ERR_CANNOT_REPLAY', `a ${source.kind} flow cannot be resent, only HTTP requests`);
  if (source.request.bodyTruncated && edits.body === undefined) {
    throw new MitmError('MITM_ERR_CANNOT_REPLAY', `only ${body.length} of ${source.request.bodySize} request body bytes were kept; send a body with the edits`);
  }
  // An HTTP/2 flow's pseudo-headers (`:method`, `:path`…) are not headers of the HTTP/1.1 resend.
  const draft: RequestDraft = { method: source.request.method, url: source.request.url, headers: source.request.headers.filter(([n]) => !n.startsWith(':')), body };
  applyRequestEdits(draft, edits);
  let url: URL;
  try {
    url = new URL(draft.url);
  } catch {
    throw new MitmError('MITM_ERR_CANNOT_REPLAY', `"${draft.url.slice(0, 200)}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MitmError('MITM_ERR_CANNOT_REPLAY', `only http and https requests can be resent, not ${url.protocol}`);
  draft.headers = fixLength(withoutHopByHop(draft.headers, NOT_RESENT), draft.body, false);
  return draft;
}

/** Starts the resend and returns its flow as soon as it is sent; the flow completes (or fails) as it runs. */
export async function replay(source: Flow, edits: RequestEdits, options: ReplayOptions): Promise<Flow> {
  const body = edits.body ?? (await options.store.readBody(source.id, 'request'));
  const draft = replayDraft(source, body, edits);
  const url = new URL(draft.url);
  const target = targetOf(url);
  const request = emptyRequest(draft.method, url.href);
  request.headers = draft.headers;
  request.body = draft.body.length > options.maxBody ? draft.body.subarray(0, options.maxBody) : draft.body;
  request.bodySize = draft.body.length;
  request.bodyTruncated = draft.body.length > options.maxBody;
  const flow = createFlow({ kind: 'http', scheme: target.scheme, host: target.host, port: target.port, request, clientConnection: null });
  flow.replayOf = source.id;
  options.store.add(flow);

  const tRequest = nowMs();
  let tSocket = 0;
  let tSent = 0;
  const label = `${target.host}:${target.port}`;
  const finish = (error: MitmError | null, stage: 'upstream-request' | 'upstream-response' = 'upstream-request'): void => {
    if (flow.state !== 'pending') return;
    flow.duration = roundMs(nowMs() - tRequest);
    flow.state = error ? 'error' : 'complete';
    if (error) flow.error = { stage: error instanceof UpstreamError ? error.stage : stage, code: error.code, message: error.message };
    options.store.update(flow);
  };

  const req = http.request({
    // The pool's agent serves either scheme and does the TLS itself; Node checks the two agree.
    protocol: `${target.scheme}:`,
    host: target.host,
    port: target.port,
    method: draft.method,
    path: `${url.pathname}${url.search}`,
    agent: options.upstream.agentFor(target),
    setHost: false,
  });
  for (const [name, values] of grouped(draft.headers)) req.setHeader(name, values.length === 1 ? values[0]! : values);
  if (!draft.headers.some(([n]) => n.toLowerCase() === 'host')) req.setHeader('Host', url.host);
  req.on('socket', (socket) => {
    tSocket = nowMs();
    attachUpstream(flow, socket, tRequest, tSocket);
  });
  req.once('finish', () => {
    tSent = nowMs();
  });
  req.setTimeout(options.headersTimeout, () => {
    req.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no response headers within ${options.headersTimeout} ms`));
  });
  req.on('error', (err: Error) => {
    finish(err instanceof MitmError ? err : new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-request', label, `resending to ${label} failed: ${err.message}`));
  });
  req.on('response', (res) => {
    const tResponse = nowMs();
    setSendWait(flow.timings, { request: tRequest, socket: tSocket, sent: tSent, response: tResponse });
    const response = capturedResponse(res);
    flow.response = response;
    options.store.update(flow);
    const capture = new BodyCapture(response, options.maxBody, options.store.bodySink(flow, 'response'));
    res.setTimeout(options.bodyTimeout, () => res.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no body data for ${options.bodyTimeout} ms`)));
    res.on('data', (chunk: Buffer) => capture.push(chunk));
    res.on('end', () => {
      capture.finish();
      if (res.rawTrailers.length > 0) response.trailers = pairHeaders(res.rawTrailers);
      flow.timings.receive = roundMs(nowMs() - tResponse);
      finish(null);
    });
    res.on('close', () => {
      if (!res.complete) finish(new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-response', label, `${label} closed the connection mid-response`), 'upstream-response');
    });
    res.on('error', (err: Error) => finish(err instanceof MitmError ? err : new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-response', label, `${label} closed the connection mid-response`), 'upstream-response'));
  });
  req.end(draft.body);
  return flow;
}

/** Header values by name, keeping the first spelling of each name and the order of values. */
function grouped(headers: readonly [string, string][]): Map<string, string[]> {
  const byLower = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of headers) {
    const entry = byLower.get(name.toLowerCase());
    if (entry) entry.values.push(value);
    else byLower.set(name.toLowerCase(), { name, values: [value] });
  }
  return new Map([...byLower.values()].map((e) => [e.name, e.values]));
}
