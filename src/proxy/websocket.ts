/**
 * WebSocket interception: `ws://` upgrades through the plain proxy and `wss://` upgrades inside
 * intercepted CONNECT tunnels. The proxy sends the client's upgrade request upstream itself on
 * its own observed connection, passes the answer back (101, or a refusal with its body), then
 * relays both legs' bytes and records every message on the Flow.
 *
 * Design: after the handshake the bytes are relayed unchanged and tapped by a sans-IO frame
 * parser (ws-frames.ts → ws-recorder.ts). Terminating with `ws` on both legs was the
 * alternative; it was not chosen because `ws` answers close frames and pings itself (the server's
 * own close code would never reach the client), re-frames messages, and buffers each whole
 * message up to `maxPayload`. Relaying bytes keeps what the peers really sent, lets the peers
 * negotiate subprotocols and extensions end to end, streams messages of any size in constant
 * memory, and only the capped copy is ever unmasked or inflated.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { MitmError, UpstreamError, statusFor, type FailureStage } from '../errors.js';
import { createFlow, emptyRequest, headerValue, pairHeaders, type CapturedResponse, type Flow, type Leg, type WebSocketMessage } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import type { Upstream } from './upstream.js';
import { hostPort, originForm, type ForwardTarget } from './forward.js';
import { endWithErrorResponse } from './error-response.js';
import { attachFailedUpstream, getClient, attachUpstream, nowMs } from './socket-state.js';
import { MessageRecorder, type CloseFrame } from './ws-recorder.js';
import { OPCODE_BINARY } from './ws-frames.js';
import { negotiatedDeflate, statusLine } from './ws-upgrade.js';
import { capturedResponse, roundMs as round, setSendWait } from '../capture/flow.js';
import { BodyCapture } from '../capture/body-capture.js';

export { isWebSocketUpgrade, proxyUpgradeTarget, replayWithoutUpgrade } from './ws-upgrade.js';

/** Flow summaries during traffic at most this often: messages themselves go out as `ws-message` events. */
const FLOW_UPDATE_INTERVAL_MS = 250;
/** Live `ws-message` events carry this much of a message; the full capped copy is in the flow. */
const LIVE_PREVIEW_CHARS = 4096;
/** Payload copies one flow may keep in all; later messages keep their metadata only (the store is bounded). */
const MAX_RECORDED_BYTES_PER_FLOW = 64 * 1024 * 1024;
/**
 * One message's copy: messages are stored as text rows (base64 for binary) and an open
 * connection's messages stay in memory until it closes, so each is capped well below --max-body.
 */
const MAX_MESSAGE_COPY_BYTES = 1024 * 1024;
/** After one leg has closed, the other gets this long to finish (the close timeout of `ws` and browsers). */
const CLOSE_GRACE_MS = 30_000;
/** RFC 6455 §7.4.1: closed without a close frame. */
const CLOSE_ABNORMAL = 1006;
/** RFC 6455 §7.1.5: a close frame without a status code. */
const CLOSE_NO_STATUS = 1005;
/** Headers for the client↔proxy hop only (RFC 9110 §7.6.1); Connection and Upgrade go on, since the upgrade is end to end. */
const PROXY_HOP_HEADERS = new Set(['proxy-connection', 'proxy-authorization', 'keep-alive']);

export interface WebSocketRelayOptions {
  store: FlowStore;
  upstream: Upstream;
  maxBody: number;
  /** How long the server may take to answer the upgrade. */
  headersTimeout: number;
}



/** What a live event carries of a message: subscribers get a copy, shortened past the preview size. */
function previewOf(message: WebSocketMessage): WebSocketMessage {
  if (message.data.length <= LIVE_PREVIEW_CHARS) return { ...message };
  // Base64 keeps whole 4-character groups so a preview still decodes.
  const cut = message.opcode === OPCODE_BINARY ? LIVE_PREVIEW_CHARS - (LIVE_PREVIEW_CHARS % 4) : LIVE_PREVIEW_CHARS;
  return { ...message, data: message.data.slice(0, cut), truncated: true };
}

export class WebSocketRelay {
  private readonly options: WebSocketRelayOptions;

  constructor(options: WebSocketRelayOptions) {
    this.options = options;
  }

  /** Takes over an upgrade request whose socket Node has detached; returns its (pending) flow. */
  handle(req: IncomingMessage, socket: Socket, head: Buffer, target: ForwardTarget): Flow {
    return new Session(this.options, req, socket, head, target).flow;
  }

  /** Answers an upgrade the proxy cannot serve, and records it. */
  refuse(req: IncomingMessage, socket: Socket, err: MitmError): void {
    const status = statusFor(err.code);
    const flow = createFlow({ kind: 'websocket', scheme: 'ws', host: '', port: 0, request: emptyRequest(req.method ?? 'GET', req.url ?? ''), clientConnection: getClient(socket)?.connection ?? null });
    flow.request.headers = pairHeaders(req.rawHeaders);
    flow.state = 'error';
    flow.error = { stage: 'client-request', code: err.code, message: err.message };
    flow.response = { status, statusText: http.STATUS_CODES[status] ?? '', httpVersion: '1.1', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    flow.duration = 0;
    this.options.store.add(flow);
    socket.on('error', () => socket.destroy());
    endWithErrorResponse(socket, err);
  }
}

/** One upgrade, from the client's request to both connections closing. */
class Session {
  readonly flow: Flow;
  private readonly label: string;
  private readonly tRequest = nowMs();
  private tSocket = 0;
  private tSent = 0;
  private tResponse = 0;
  private phase: 'handshake' | 'refused' | 'open' | 'done' = 'handshake';
  private upstreamSocket: Socket | null = null;
  private request: ClientRequest | null = null;
  private headersTimer: NodeJS.Timeout | null = null;
  private updateTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private readonly recorders = new Map<Leg, MessageRecorder>();
  private readonly closed = new Set<Leg>();
  private readonly socketErrors = new Map<Leg, NodeJS.ErrnoException>();
  private readonly problems = new Set<string>();

  constructor(
    private readonly options: WebSocketRelayOptions,
    private readonly req: IncomingMessage,
    private readonly client: Socket,
    private readonly head: Buffer,
    private readonly target: ForwardTarget,
  ) {
    const scheme = target.scheme === 'https' ? 'wss' : 'ws';
    this.label = hostPort(target);
    const request = emptyRequest(req.method ?? 'GET', `${scheme}://${hostPort({ ...target, scheme })}${originForm(req.url ?? '/')}`, req.httpVersion);
    request.headers = pairHeaders(req.rawHeaders);
    this.flow = createFlow({ kind: 'websocket', scheme, host: target.host, port: target.port, request, clientConnection: target.client });
    options.store.add(this.flow);
    // Node's server may have left an idle timeout on the socket; a WebSocket may idle for hours.
    client.setTimeout(0);
    client.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.socketErrors.has('client')) this.socketErrors.set('client', err);
    });
    client.once('close', () => this.onClientGone());
    void this.connect();
  }

  private async connect(): Promise<void> {
    let socket: Socket;
    try {
      socket = await this.options.upstream.connect(this.target);
    } catch (err) {
      const failure =
        err instanceof MitmError ? err : new UpstreamError('MITM_ERR_UPSTREAM_CONNECT', 'connect', this.label, `connection to ${this.label} failed: ${(err as Error).message}`, { cause: err });
      this.failHandshake(failure);
      return;
    }
    if (this.phase !== 'handshake') {
      socket.destroy();
      return;
    }
    this.upstreamSocket = socket;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.socketErrors.has('server')) this.socketErrors.set('server', err);
    });
    this.noteSocket(socket);
    this.sendUpgrade(socket);
  }

  private noteSocket(socket: Socket): void {
    this.tSocket = nowMs();
    // Always a fresh connection: WebSocket connections never come from or return to a pool.
    attachUpstream(this.flow, socket, this.tRequest, this.tSocket);
  }

  private sendUpgrade(socket: Socket): void {
    const headers: string[] = [];
    const pairs = pairHeaders(this.req.rawHeaders);
    if (headerValue(pairs, 'host') === undefined) headers.push('Host', this.label);
    for (const [name, value] of pairs) if (!PROXY_HOP_HEADERS.has(name.toLowerCase())) headers.push(name, value);
    const request = http.request({ createConnection: () => socket, method: this.req.method ?? 'GET', path: originForm(this.req.url ?? '/'), headers });
    this.request = request;
    this.headersTimer = setTimeout(() => {
      request.destroy(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response', this.label, `${this.label} did not answer the WebSocket upgrade within ${this.options.headersTimeout} ms`));
    }, this.options.headersTimeout);
    request.once('finish', () => {
      this.tSent = nowMs();
    });
    request.once('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => this.onUpgraded(res, upstream, upstreamHead));
    request.once('response', (res: IncomingMessage) => this.onRefused(res));
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (this.phase !== 'handshake') return;
      if (err instanceof MitmError) return this.failHandshake(err);
      const code = err.code ?? '';
      const failure =
        code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED'
          ? new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-request', this.label, `${this.label} reset the connection before answering the WebSocket upgrade`)
          : code.startsWith('HPE_')
            ? new UpstreamError('MITM_ERR_UPSTREAM_PROTOCOL', 'upstream-response', this.label, `${this.label} sent invalid HTTP (${err.message})`)
            : new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-request', this.label, `WebSocket upgrade to ${this.label} failed: ${err.message}`);
      this.failHandshake(failure);
    });
    request.end();
  }

  private answered(res: IncomingMessage): CapturedResponse {
    if (this.headersTimer) clearTimeout(this.headersTimer);
    this.headersTimer = null;
    this.tResponse = nowMs();
    setSendWait(this.flow.timings, { request: this.tRequest, socket: this.tSocket, sent: this.tSent, response: this.tResponse });
    const response = capturedResponse(res);
    this.flow.response = response;
    return response;
  }

  /** Any answer but 101 goes back to the client as it came: status, headers, body. */
  private onRefused(res: IncomingMessage): void {
    if (this.phase !== 'handshake') {
      res.destroy();
      return;
    }
    this.phase = 'refused';
    const response = this.answered(res);
    this.options.store.update(this.flow);
    const client = this.client;
    // Node has undone the chunked framing; it is redone so the headers stay true.
    const chunked = /(^|,)\s*chunked\s*$/i.test(res.headers['transfer-encoding'] ?? '');
    client.write(statusLine(res));
    const capture = new BodyCapture(response, this.options.maxBody, this.options.store.bodySink(this.flow, 'response'));
    res.on('data', (chunk: Buffer) => {
      capture.push(chunk);
      const more = client.write(chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
      if (!more) {
        res.pause();
        client.once('drain', () => res.resume());
      }
    });
    res.once('end', () => {
      capture.finish();
      if (res.rawTrailers.length > 0) response.trailers = pairHeaders(res.rawTrailers);
      if (chunked) client.write(`0\r\n${response.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`);
      client.end();
      this.finishHandshakeFlow();
    });
    res.once('close', () => {
      if (res.complete || this.phase === 'done') return;
      this.fail('upstream-response', new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-response', this.label, `${this.label} closed the connection after ${response.bodySize} bytes of its answer to the WebSocket upgrade`));
      // A cut-short body must look cut short to the client too.
      client.destroy();
      this.finishHandshakeFlow();
    });
  }

  private onUpgraded(res: IncomingMessage, upstream: Socket, upstreamHead: Buffer): void {
    if (this.phase !== 'handshake') {
      upstream.destroy();
      return;
    }
    this.phase = 'open';
    const response = this.answered(res);
    const protocol = headerValue(response.headers, 'sec-websocket-protocol') ?? null;
    const extensions = headerValue(response.headers, 'sec-websocket-extensions') ?? null;
    this.flow.websocket = { protocol, extensions, messages: [], closeCode: null, closeReason: null, closedBy: null };
    const deflate = negotiatedDeflate(extensions);
    if (deflate.others.length > 0) this.flow.notes.push(`extension ${deflate.others.join(', ')} is not decoded: payloads are recorded as sent`);
    upstream.setTimeout(0);
    this.client.write(statusLine(res));

    const budget = { bytes: MAX_RECORDED_BYTES_PER_FLOW };
    for (const leg of ['client', 'server'] as const) {
      this.recorders.set(
        leg,
        new MessageRecorder({
          type: leg === 'client' ? 'send' : 'receive',
          maxData: Math.min(this.options.maxBody, MAX_MESSAGE_COPY_BYTES),
          budget,
          deflate: leg === 'client' ? deflate.send : deflate.receive,
          onMessage: (message, close) => this.onMessage(leg, message, close),
          onProblem: (reason) => this.note(`${leg === 'client' ? 'client → server' : 'server → client'}: ${reason}`),
        }),
      );
    }
    this.pump('client', this.client, upstream);
    this.pump('server', upstream, this.client);
    // Bytes that arrived with either handshake are the first frames from their sender.
    if (this.head.length > 0) this.forward('client', this.head, upstream);
    if (upstreamHead.length > 0) this.forward('server', upstreamHead, this.client);
    this.options.store.update(this.flow);
  }

  private forward(leg: Leg, chunk: Buffer, to: Socket): boolean {
    this.recorders.get(leg)!.push(chunk);
    return to.write(chunk);
  }

  /** Relays what one leg sends, with backpressure; a close frame decides how its end is passed on. */
  private pump(leg: Leg, from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!this.forward(leg, chunk, to)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.once('end', () => this.onLegEnded(leg));
    if (leg === 'server') from.once('close', () => this.onLegClosed('server'));
  }

  private socketOf(leg: Leg): Socket {
    return leg === 'client' ? this.client : this.upstreamSocket!;
  }

  /** A FIN after a close frame is the end of the closing handshake; without one it is an abnormal closure. */
  private onLegEnded(leg: Leg): void {
    const other = this.socketOf(leg === 'client' ? 'server' : 'client');
    if (this.recorders.get(leg)!.closeSeen) other.end();
    else {
      this.abnormal(leg);
      other.destroy();
    }
    this.armGrace();
  }

  private onLegClosed(leg: Leg): void {
    if (this.closed.has(leg)) return;
    this.closed.add(leg);
    const other = this.socketOf(leg === 'client' ? 'server' : 'client');
    if (!this.recorders.get(leg)!.closeSeen) {
      this.abnormal(leg);
      other.destroy();
    } else if (!other.writableEnded) other.end();
    this.armGrace();
    if (this.closed.size === 2) void this.finish();
  }

  /** Records a connection lost without any close frame: both peers see 1006 (RFC 6455 §7.1.5). */
  private abnormal(leg: Leg): void {
    const ws = this.flow.websocket;
    if (!ws || ws.closedBy !== null) return;
    for (const recorder of this.recorders.values()) if (recorder.closeSeen) return;
    ws.closeCode = CLOSE_ABNORMAL;
    ws.closeReason = null;
    ws.closedBy = leg;
    const err = this.socketErrors.get(leg);
    const why = err?.code ? ` (${err.code})` : '';
    if (leg === 'server') {
      this.fail('upstream-response', new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'upstream-response', this.label, `${this.label} closed the WebSocket connection without a close frame${why}`));
    } else {
      this.fail('client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', `the client closed the WebSocket connection without a close frame${why}`));
    }
  }

  /** Once one leg is gone the other gets a grace period, then is cut. */
  private armGrace(): void {
    if (this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      this.client.destroy();
      this.upstreamSocket?.destroy();
    }, CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  private onMessage(leg: Leg, message: WebSocketMessage, close: CloseFrame | null): void {
    const ws = this.flow.websocket;
    if (!ws) return;
    const index = ws.messages.push(message) - 1;
    if (close && ws.closedBy === null) {
      ws.closedBy = leg;
      ws.closeCode = close.code ?? CLOSE_NO_STATUS;
      ws.closeReason = close.reason || null;
    }
    this.options.store.wsMessage(this.flow.id, index, message, previewOf(message));
    if (this.updateTimer === null && this.phase === 'open') {
      this.updateTimer = setTimeout(() => {
        this.updateTimer = null;
        if (this.phase === 'open') this.options.store.update(this.flow);
      }, FLOW_UPDATE_INTERVAL_MS);
      this.updateTimer.unref();
    }
  }

  private note(text: string): void {
    if (this.problems.has(text)) return;
    this.problems.add(text);
    this.flow.notes.push(text);
  }

  private onClientGone(): void {
    if (this.phase === 'open') return this.onLegClosed('client');
    if (this.phase === 'done') return;
    this.fail('client-request', new MitmError('MITM_ERR_CLIENT_ABORTED', 'the client closed the connection before the WebSocket upgrade finished'));
    this.request?.destroy();
    this.upstreamSocket?.destroy();
    this.finishHandshakeFlow();
  }

  /** The upgrade failed before any answer: 502/504 with the reason, as for HTTP. */
  private failHandshake(failure: MitmError): void {
    if (this.phase !== 'handshake') return;
    const stage: FailureStage = failure instanceof UpstreamError ? failure.stage : 'upstream-request';
    this.fail(stage, failure);
    this.upstreamSocket?.destroy();
    if (this.client.writable) endWithErrorResponse(this.client, failure);
    this.finishHandshakeFlow();
  }

  private fail(stage: FailureStage, err: MitmError): void {
    this.flow.error ??= { stage, code: err.code, message: err.message };
    attachFailedUpstream(this.flow, err);
  }

  /** Ends a flow that never became a WebSocket (refused, failed or abandoned). */
  private finishHandshakeFlow(): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    if (this.headersTimer) clearTimeout(this.headersTimer);
    const end = nowMs();
    if (this.tResponse) this.flow.timings.receive = round(end - this.tResponse);
    this.flow.duration = round(end - this.tRequest);
    this.flow.state = this.flow.error ? 'error' : 'complete';
    this.options.store.update(this.flow);
  }

  /** Both connections are closed: wait for the last messages (inflation is asynchronous), then settle. */
  private async finish(): Promise<void> {
    await Promise.all([...this.recorders.values()].map((r) => r.drain()));
    for (const recorder of this.recorders.values()) recorder.destroy();
    if (this.updateTimer) clearTimeout(this.updateTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.phase = 'done';
    this.flow.duration = round(nowMs() - this.tRequest);
    this.flow.state = this.flow.error ? 'error' : 'complete';
    this.options.store.update(this.flow);
  }
}
