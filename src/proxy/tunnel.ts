/**
 * Raw TCP tunnels: hosts we do not intercept (ignored, passed through, or not speaking TLS or
 * HTTP, or whose server speaks first) get their bytes relayed untouched and a `tunnel` flow that
 * counts them.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { createFlow, roundMs, type CapturedRequest, type Connection, type Flow } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import { nowMs } from './socket-state.js';
import { bareHost } from './hosts.js';
import { UpstreamError, type ErrorCode, type FailureStage } from '../errors.js';
import { endWithErrorResponse } from './error-response.js';
import type { SpokenProbe } from './first-speaker.js';

export interface TunnelRequest {
  socket: Socket;
  buffered: Buffer;
  host: string;
  port: number;
  client: Connection;
  /** The CONNECT request as sent (see connect-request.ts). */
  request: CapturedRequest;
  reason: string;
  /** When set, the CONNECT has not been answered yet: answer 200, or the failure (502/504), once the upstream is known. */
  pendingConnectReply: boolean;
  /**
   * The upstream is already connected: a probe whose server spoke before the client did
   * (first-speaker.ts). Its greeting reaches the client first, then the rest in order.
   */
  probe?: SpokenProbe;
}

export interface TunnelOptions {
  store: FlowStore;
  /** The same bound forwarding puts on DNS + TCP (--connect-timeout): a blackholed host must not hold the client forever. */
  connectTimeout: number;
}

/** Why the upstream side of a tunnel failed, named and staged as for forwarded requests. */
export function tunnelFailure(err: NodeJS.ErrnoException, host: string, label: string, connected: boolean): UpstreamError {
  const why = err.code ?? err.message;
  if (connected) return new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'tunnel', label, `tunnel to ${label} broke: ${why}`, { cause: err });
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new UpstreamError('MITM_ERR_UPSTREAM_DNS', 'dns', label, `DNS lookup of ${host} failed (${err.code}): no such host`, { cause: err });
  }
  const reason = err.code === 'ECONNREFUSED' ? 'connection refused' : why;
  return new UpstreamError('MITM_ERR_UPSTREAM_CONNECT', 'connect', label, `TCP connection to ${label} failed: ${reason}`, { cause: err });
}

function tunnelFlow(req: TunnelRequest, store: FlowStore, startedAt?: number): Flow {
  const flow = createFlow({
    ...(startedAt === undefined ? {} : { startedAt }),
    kind: 'tunnel',
    scheme: 'tcp',
    host: req.host,
    port: req.port,
    request: req.request,
    clientConnection: req.client,
  });
  flow.notes.push(req.reason);
  store.add(flow);
  return flow;
}

/**
 * A tunnel that ended before any byte was relayed (the target was unreachable, or neither side
 * spoke): recorded with its error, and the client, already told 200, is hung up on.
 */
export function recordFailedTunnel(req: TunnelRequest, error: { stage: FailureStage; code: ErrorCode; message: string }, options: TunnelOptions, startedAt: number): void {
  const waited = nowMs() - startedAt;
  const flow = tunnelFlow(req, options.store, Date.now() - waited);
  flow.duration = roundMs(waited);
  flow.state = 'error';
  flow.error = { stage: error.stage, code: error.code, message: error.message };
  options.store.update(flow);
  if (req.pendingConnectReply && !req.socket.destroyed) endWithErrorResponse(req.socket, error);
  else req.socket.destroy();
}

export function openTunnel(req: TunnelRequest, options: TunnelOptions): void {
  const { store } = options;
  const started = nowMs();
  const label = `${req.host}:${req.port}`;
  const flow = tunnelFlow(req, store);
  const probe = req.probe;
  const upstream = probe ? probe.socket : netConnect({ host: bareHost(req.host), port: req.port });
  let connected = false;
  const finish = (err: UpstreamError | null): void => {
    if (flow.state !== 'pending') return;
    flow.duration = roundMs(nowMs() - started);
    flow.state = err ? 'error' : 'complete';
    if (err) flow.error = { stage: err.stage, code: err.code, message: err.message };
    store.update(flow);
  };
  /** Before the upstream answered: record why, tell a client still waiting for its CONNECT reply, and hang up. */
  const failBeforeConnect = (err: UpstreamError): void => {
    finish(err);
    if (req.pendingConnectReply && !req.socket.destroyed) endWithErrorResponse(req.socket, err);
    else req.socket.destroy();
  };
  const connectTimer = probe
    ? undefined
    : setTimeout(() => {
        failBeforeConnect(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'connect', label, `TCP connection to ${label} timed out after ${options.connectTimeout} ms`));
        upstream.destroy();
      }, options.connectTimeout);
  upstream.setNoDelay(true);
  const relay = (connectMs: number): void => {
    clearTimeout(connectTimer);
    connected = true;
    flow.serverIPAddress = upstream.remoteAddress ?? null;
    flow.timings.connect = connectMs;
    if (req.pendingConnectReply) req.socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (req.buffered.length > 0) {
      flow.request.bodySize += req.buffered.length;
      upstream.write(req.buffered);
    }
    req.socket.on('data', (chunk: Buffer) => {
      flow.request.bodySize += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      if (flow.response) flow.response.bodySize += chunk.length;
    });
    flow.response = { status: 200, statusText: 'Connection Established', httpVersion: '1.1', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    if (probe && probe.greeting.length > 0) {
      // Read by the probe before the client spoke: it goes first, so the byte order is the server's.
      flow.response.bodySize += probe.greeting.length;
      req.socket.write(probe.greeting);
    }
    req.socket.pipe(upstream);
    // An upstream that already ended emits no second 'end' for pipe() to pass on.
    if (probe?.ended) req.socket.end();
    else upstream.pipe(req.socket);
    req.socket.resume();
  };
  if (probe) relay(probe.connectMs);
  else upstream.once('connect', () => relay(roundMs(nowMs() - started)));
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(connectTimer);
    const failure = tunnelFailure(err, req.host, label, connected);
    if (connected) {
      finish(failure);
      req.socket.destroy();
    } else failBeforeConnect(failure);
  });
  req.socket.on('error', () => {
    upstream.destroy();
  });
  upstream.on('close', () => {
    clearTimeout(connectTimer);
    finish(null);
    // Before the connect, failBeforeConnect owns the client socket (it may still be flushing a 5xx).
    if (connected) req.socket.destroy();
  });
  req.socket.on('close', () => {
    clearTimeout(connectTimer);
    upstream.destroy();
    finish(null);
  });
}
