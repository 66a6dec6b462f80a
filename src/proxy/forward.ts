/**
 * One HTTP exchange through http-proxy: the request streams to the upstream and the response
 * back, while a capped copy of each body, wire-order headers and HAR timings are recorded on a
 * Flow. Failures answer the client with a status and a body that says what failed and where.
 */
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import httpProxy from 'http-proxy';
import { MitmError, UpstreamError, type FailureStage } from '../errors.js';
import {
  capturedResponse,
  roundMs as round,
  setSendWait,
  createFlow,
  emptyRequest,
  pairHeaders,
  failedTimings,
  type Connection,
  type Flow,
} from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import type { Upstream, UpstreamTarget } from './upstream.js';
import { attachFailedUpstream, attachUpstream, nowMs } from './socket-state.js';
import { bareHost } from './hosts.js';
import { BodyCapture } from '../capture/body-capture.js';
import { sendErrorResponse } from './error-response.js';
import { answeredResponse, collectBody, holdRequest, holdResponse, holdWhole, isBodyless, MAX_HELD_BODY_BYTES, STREAMED_WITHOUT_RULES, writeResponse, type HoldContext, type Outcome, type RuleHooks } from '../rules/hold.js';
import { planExchange, type RequestPlan } from '../rules/plan.js';
import { flatHeaders, headerObject, type RequestDraft, type ResponseDraft } from '../rules/edits.js';
import { dropConnection } from '../rules/drop.js';
import { movedTarget } from '../rules/target.js';
import { summarize } from '../capture/flow.js';
import { redactCredentials } from './connect-request.js';
import { dropHopByHop, hopByHopNames, withoutHopByHop, REQUEST_HOP_BY_HOP, RESPONSE_HOP_BY_HOP } from './hop-by-hop.js';

/** Methods safe to send twice (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export interface ForwardTarget extends UpstreamTarget {
  client: Connection | null;
}

export interface ForwarderOptions {
  store: FlowStore;
  upstream: Upstream;
  maxBody: number;
  headersTimeout: number;
  bodyTimeout: number;
  /** Rules and breakpoints; null streams every exchange untouched. */
  rules?: RuleHooks | null;
}

/** State of one exchange while it runs. */
interface Exchange {
  flow: Flow;
  target: ForwardTarget;
  /** hrtime ms when the request headers were parsed. */
  tRequest: number;
  tSocket: number;
  tSent: number;
  tResponse: number;
  socketSeen: boolean;
  /** The upstream socket had served an earlier request (a stale keep-alive may reset). */
  reused: boolean;
  retried: boolean;
  settled: boolean;
  /** Rules may act on the response: it is held whole instead of streamed (set by `intercept`). */
  hold: HoldContext | null;
}

const exchanges = new WeakMap<IncomingMessage, Exchange>();

export class Forwarder {
  private readonly options: ForwarderOptions;
  private readonly proxy: httpProxy;
  /** Exchanges started and not yet settled (for graceful shutdown). */
  private active = 0;
  private readonly drainWaiters = new Set<() => void>();

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.proxy = httpProxy.createProxyServer({ xfwd: false, preserveHeaderKeyCase: true, ws: false, changeOrigin: false });
    this.proxy.on('proxyReq', (proxyReq, req) => this.onProxyReq(proxyReq, req));
    this.proxy.on('proxyRes', (proxyRes, req, res) => this.onProxyRes(proxyRes, req, res));
    // http-proxy reports a reset that follows the client's own hang-up here instead of the callback.
    this.proxy.on('econnreset', (_err, req) => {
      const ex = exchanges.get(req);
      if (ex) this.fail(ex, 'client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client closed the connection before the exchange finished'));
    });
    this.proxy.on('error', () => {});
  }

  /** Forwards one request; `req.url` may be absolute-form (plain proxy) or origin-form (tunnel). */
  handle(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Flow {
    const tRequest = nowMs();
    const path = originForm(req.url ?? '/');
    const url = `${target.scheme}://${hostPort(target)}${path}`;
    const request = emptyRequest(req.method ?? 'GET', url, req.httpVersion);
    // Credentials for mitmscope itself are not the exchange's: recorded redacted, like a CONNECT's.
    request.headers = redactCredentials(pairHeaders(req.rawHeaders));
    const flow = createFlow({ kind: 'http', scheme: target.scheme, host: target.host, port: target.port, request, clientConnection: target.client });
    const ex: Exchange = { flow, target, tRequest, tSocket: 0, tSent: 0, tResponse: 0, socketSeen: false, reused: false, retried: false, settled: false, hold: null };
    exchanges.set(req, ex);
    this.active += 1;
    this.options.store.add(flow);

    const capture = new BodyCapture(request, this.options.maxBody, this.options.store.bodySink(flow, 'request'));
    req.on('data', (chunk: Buffer) => capture.push(chunk));
    req.on('end', () => {
      capture.finish();
      if (req.rawTrailers.length > 0) request.trailers = pairHeaders(req.rawTrailers);
    });
    res.on('close', () => {
      if (!ex.settled && !res.writableFinished) {
        this.fail(ex, ex.tResponse ? 'client-response' : 'client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client closed the connection before the exchange finished'));
      }
    });
    res.on('finish', () => this.complete(ex));

    req.url = path;
    // The client's Connection and Keep-Alive describe its hop: Node's server has read them (and
    // closes the client's connection after this exchange if asked), the upstream hop is pooled.
    dropHopByHop(req.headers, REQUEST_HOP_BY_HOP);
    const rules = this.options.rules;
    const plan = rules ? planExchange(rules.rules.active, rules.serveHar !== null, () => summarize(flow)) : null;
    if (rules && plan) void this.intercept(ex, req, res, rules, plan);
    else this.send(ex, req, res, null);
    return flow;
  }

  /** An exchange rules act on: the request is held whole, then answered, dropped or sent on. */
  private async intercept(ex: Exchange, req: IncomingMessage, res: ServerResponse, hooks: RuleHooks, plan: RequestPlan): Promise<void> {
    // Before any await: the body must be read from its first byte.
    const body = collectBody(req, MAX_HELD_BODY_BYTES);
    const gone = new AbortController();
    res.once('close', () => {
      gone.abort();
      hooks.breakpoints.cancel(ex.flow.id);
    });
    const ctx: HoldContext = { flow: ex.flow, hooks, store: this.options.store, maxBody: this.options.maxBody, signal: gone.signal };
    const outcome = await holdRequest(ctx, plan, body);
    if (outcome.kind !== 'send') return this.conclude(ex, req, res, outcome, ctx);
    if (ex.settled) return;
    this.applyDraft(ex, req, outcome.draft);
    if (plan.holdResponse) ex.hold = ctx;
    this.send(ex, req, res, Readable.from(outcome.draft.body.length > 0 ? [outcome.draft.body] : []));
  }

  /** Points the outgoing request at the draft: method, URL (and origin, when a rewrite moved it), headers. */
  private applyDraft(ex: Exchange, req: IncomingMessage, draft: RequestDraft): void {
    const url = new URL(draft.url);
    const headers = headerObject(draft.headers, hopByHopNames(draft.headers, REQUEST_HOP_BY_HOP));
    const moved = movedTarget(ex.target, url);
    if (moved) {
      ex.target = { ...moved, client: ex.target.client };
      Object.assign(ex.flow, { scheme: moved.scheme, host: moved.host, port: moved.port });
      headers['host'] = url.host;
    }
    req.method = draft.method;
    req.url = `${url.pathname}${url.search}`;
    req.headers = headers;
  }

  /** Ends an exchange a hold did not send on. */
  private conclude(ex: Exchange, req: IncomingMessage, res: ServerResponse, outcome: Exclude<Outcome<unknown>, { kind: 'send' }>, ctx: HoldContext): void {
    if (ex.settled) return;
    switch (outcome.kind) {
      case 'answer':
        ex.tResponse = nowMs();
        setSendWait(ex.flow.timings, { request: ex.tRequest, socket: ex.tRequest, sent: ex.tResponse, response: ex.tResponse });
        ex.flow.response = answeredResponse(outcome.draft, '1.1');
        return void this.respondHeld(ex, req, res, outcome.draft, ctx, null);
      case 'stop':
        this.fail(ex, 'intercept', outcome.error);
        return sendErrorResponse(res, outcome.error);
      case 'drop':
        this.fail(ex, 'intercept', outcome.error);
        return dropConnection(res, outcome.how);
      case 'gone':
        this.fail(ex, 'intercept', new MitmError('MITM_ERR_ABORTED', 'the exchange ended while held (the client left or mitmscope stopped)'));
        res.destroy();
        return;
    }
  }

  /** The response hold, then the (edited) response to the client. */
  private async respondHeld(ex: Exchange, req: IncomingMessage, res: ServerResponse, draft: ResponseDraft, ctx: HoldContext, captured: Buffer | null): Promise<void> {
    const bodyless = isBodyless(req.method ?? 'GET', draft.status);
    const outcome = await holdResponse(ctx, draft, bodyless, captured);
    if (outcome.kind !== 'send') return this.conclude(ex, req, res, outcome, ctx);
    if (ex.settled || res.destroyed) return;
    writeResponse(res, outcome.draft, bodyless);
  }

  /** Reads a held upstream response whole; one too large to hold streams on untouched. */
  private holdUpstreamResponse(ex: Exchange, ctx: HoldContext, proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const response = ex.flow.response!;
    // The server's hop fields stay on its hop; a rule or an edit may still set the client's.
    const headers = withoutHopByHop(response.headers, RESPONSE_HOP_BY_HOP);
    holdWhole(proxyRes, MAX_HELD_BODY_BYTES, {
      whole: (body) => {
        const draft: ResponseDraft = { status: response.status, statusText: response.statusText, headers, body };
        void this.respondHeld(ex, req, res, draft, ctx, draft.body);
      },
      spill: (head) => {
        ex.flow.notes.push(STREAMED_WITHOUT_RULES);
        res.writeHead(response.status, response.statusText, flatHeaders(headers));
        for (const c of head) res.write(c);
        proxyRes.pipe(res);
      },
    });
  }

  private send(ex: Exchange, req: IncomingMessage, res: ServerResponse, replay: Readable | null): void {
    const target = ex.target;
    this.proxy.web(
      req,
      res,
      {
        target: { protocol: `${target.scheme}:`, host: bareHost(target.host), port: target.port },
        agent: this.options.upstream.agentFor(target),
        ...(replay ? { buffer: replay } : {}),
        ...(ex.hold ? { selfHandleResponse: true } : {}),
      },
      (err) => this.onError(ex, req, res, err),
    );
  }

  /**
   * A keep-alive connection the server closed while idle resets the next request sent on it.
   * Like browsers (RFC 9112 §9.3.1), retry an idempotent request once on a fresh connection
   * when nothing of the response arrived and its whole body is still at hand.
   */
  private retryStale(ex: Exchange, req: IncomingMessage, res: ServerResponse, err: Error): boolean {
    const code = (err as NodeJS.ErrnoException).code;
    if (ex.retried || !ex.reused || ex.tResponse || res.headersSent || req.socket.destroyed) return false;
    if (code !== 'ECONNRESET' && code !== 'EPIPE') return false;
    if (!IDEMPOTENT.has(ex.flow.request.method) || !req.complete || ex.flow.request.bodyTruncated) return false;
    ex.retried = true;
    ex.socketSeen = false;
    ex.reused = false;
    ex.flow.notes.push('retried on a fresh connection: the reused keep-alive connection was reset');
    // The captured copy is the whole body (not truncated); it is read back from the session.
    this.options.store.readBody(ex.flow.id, 'request').then(
      (body) => this.send(ex, req, res, Readable.from(body.length > 0 ? [body] : [])),
      (readErr: unknown) => this.onError(ex, req, res, readErr as Error),
    );
    return true;
  }

  private onProxyReq(proxyReq: ClientRequest, req: IncomingMessage): void {
    const ex = exchanges.get(req);
    if (!ex) return;
    const socket = proxyReq.socket;
    if (socket) this.noteSocket(ex, socket);
    proxyReq.setTimeout(this.options.headersTimeout, () => {
      const label = hostPort(ex.target);
      proxyReq.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no response headers within ${this.options.headersTimeout} ms`));
    });
    proxyReq.once('finish', () => {
      ex.tSent = nowMs();
    });
  }

  private noteSocket(ex: Exchange, socket: Socket): void {
    if (ex.socketSeen) return;
    ex.socketSeen = true;
    ex.tSocket = nowMs();
    const info = attachUpstream(ex.flow, socket, ex.tRequest, ex.tSocket);
    ex.reused = (info?.uses ?? 0) > 1;
  }

  private onProxyRes(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const ex = exchanges.get(req);
    if (!ex) return;
    ex.tResponse = nowMs();
    // Expect: 100-continue requests skip http-proxy's proxyReq event; take the socket from here.
    if (!ex.socketSeen && proxyRes.socket) this.noteSocket(ex, proxyRes.socket);
    setSendWait(ex.flow.timings, { request: ex.tRequest, socket: ex.tSocket, sent: ex.tSent, response: ex.tResponse });
    const response = capturedResponse(proxyRes);
    ex.flow.response = response;
    this.options.store.update(ex.flow);
    // Recorded as the server sent it; the client hears about its own connection only. http-proxy
    // writes this field: it must say what Node's server will do (close when the client asked).
    dropHopByHop(proxyRes.headers, RESPONSE_HOP_BY_HOP);
    const clientHop = res.shouldKeepAlive ? 'keep-alive' : 'close';
    proxyRes.headers.connection = clientHop;
    // http-proxy answers an HTTP/1.0 client with the request's Connection, removed before forwarding.
    req.headers.connection = clientHop;
    const capture = new BodyCapture(response, this.options.maxBody, this.options.store.bodySink(ex.flow, 'response'));
    proxyRes.on('data', (chunk: Buffer) => capture.push(chunk));
    let timedOut: UpstreamError | null = null;
    proxyRes.setTimeout(this.options.bodyTimeout, () => {
      const label = hostPort(ex.target);
      timedOut = new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', label, `${label} sent no body data for ${this.options.bodyTimeout} ms`);
      proxyRes.destroy(timedOut);
    });
    proxyRes.on('end', () => {
      capture.finish();
      if (proxyRes.rawTrailers.length > 0) response.trailers = pairHeaders(proxyRes.rawTrailers);
    });
    const onAbort = (err?: Error): void => {
      if (proxyRes.complete || ex.settled) return;
      const label = hostPort(ex.target);
      const cause =
        timedOut ??
        (err instanceof UpstreamError
          ? err
          : new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-response', label, `${label} closed the connection after ${response.bodySize} bytes of the response body`));
      this.fail(ex, cause.stage, cause);
      // The client must see the truncation as a reset, not as a complete short body.
      res.destroy();
    };
    proxyRes.on('error', onAbort);
    proxyRes.on('aborted', () => onAbort());
    proxyRes.on('close', () => onAbort());
    if (ex.hold) this.holdUpstreamResponse(ex, ex.hold, proxyRes, req, res);
  }

  private onError(ex: Exchange, req: IncomingMessage, res: ServerResponse, err: Error): void {
    if (this.retryStale(ex, req, res, err)) return;
    const label = hostPort(ex.target);
    let failure: MitmError;
    if (err instanceof MitmError) failure = err;
    else {
      const code = (err as NodeJS.ErrnoException).code;
      // The client socket, not req: a fully read IncomingMessage counts as destroyed in Node 20.
      if (req.socket.destroyed) failure = new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client closed the connection before the exchange finished');
      else if (code === 'ECONNRESET' || code === 'EPIPE')
        failure = new UpstreamError('MITM_ERR_UPSTREAM_RESET', ex.tResponse ? 'upstream-response' : 'upstream-request', label, `${label} reset the connection ${ex.tResponse ? 'during the response' : 'before sending a response'}`);
      else if (code?.startsWith('HPE_'))
        failure = new UpstreamError('MITM_ERR_UPSTREAM_PROTOCOL', 'upstream-response', label, `${label} sent invalid HTTP (${err.message})`);
      else failure = new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-request', label, `request to ${label} failed: ${err.message}`);
    }
    const stage: FailureStage = failure instanceof UpstreamError ? failure.stage : 'client-request';
    this.fail(ex, stage, failure);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    sendErrorResponse(res, failure);
  }

  private settle(ex: Exchange): boolean {
    if (ex.settled) return false;
    ex.settled = true;
    this.active -= 1;
    if (this.active === 0) for (const w of [...this.drainWaiters]) w();
    return true;
  }

  private fail(ex: Exchange, stage: FailureStage, err: MitmError): void {
    if (!this.settle(ex)) return;
    const flow = ex.flow;
    const end = nowMs();
    flow.state = 'error';
    flow.error = { stage, code: err.code, message: err.message };
    attachFailedUpstream(flow, err);
    flow.duration = round(end - ex.tRequest);
    failedTimings(flow.timings, ex, end, err instanceof UpstreamError ? err.phases : null);
    this.options.store.update(flow);
  }

  private complete(ex: Exchange): void {
    if (!this.settle(ex)) return;
    const flow = ex.flow;
    const end = nowMs();
    if (ex.tResponse) flow.timings.receive = round(end - ex.tResponse);
    flow.duration = round(end - ex.tRequest);
    flow.state = flow.error ? 'error' : 'complete';
    this.options.store.update(flow);
  }

  /** Resolves when no exchange is in flight, or after `ms`. */
  drain(ms: number): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.drainWaiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  close(): void {
    this.proxy.close();
  }
}

/** `http://h/p?q` → `/p?q`; origin-form and `*` are kept. */
export function originForm(url: string): string {
  if (url.startsWith('/') || url === '*') return url;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(url);
  if (!m) return url;
  const rest = m[1] ?? '';
  return rest.startsWith('/') ? rest : `/${rest}`;
}

export function hostPort(target: { host: string; port: number; scheme: string }): string {
  const host = target.host.includes(':') && !target.host.startsWith('[') ? `[${target.host}]` : target.host;
  const def = target.scheme === 'https' || target.scheme === 'wss' ? 443 : 80;
  return target.port === def ? host : `${host}:${target.port}`;
}
