/**
 * Raw TCP tunnels: hosts we do not intercept (ignored, passed through, or not speaking TLS or
 * HTTP) get their bytes relayed untouched and a `tunnel` flow that counts them.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { createFlow, roundMs, type CapturedRequest, type Connection } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import { nowMs } from './socket-state.js';
import { bareHost } from './hosts.js';
import { UpstreamError } from '../errors.js';
import { endWithErrorResponse } from './error-response.js';

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
}

export interface TunnelOptions {
  store: FlowStore;
  /** The same bound forwarding puts on DNS + TCP (--connect-timeout): a blackholed host must not hold the client forever. */
  connectTimeout: number;
}

/** Why the upstream side of a tunnel failed, named and staged as for forwarded requests. */
function tunnelFailure(err: NodeJS.ErrnoException, host: string, label: string, connected: boolean): UpstreamError {
  const why = err.code ?? err.message;
  if (connected) return new UpstreamError('MITM_ERR_UPSTREAM_RESET', 'tunnel', label, `tunnel to ${label} broke: ${why}`, { cause: err });
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new UpstreamError('MITM_ERR_UPSTREAM_DNS', 'dns', label, `DNS lookup of ${host} failed (${err.code}): no such host`, { cause: err });
  }
  const reason = err.code === 'ECONNREFUSED' ? 'connection refused' : why;
  return new UpstreamError('MITM_ERR_UPSTREAM_CONNECT', 'connect', label, `TCP connection to ${label} failed: ${reason}`, { cause: err });
}

export function openTunnel(req: TunnelRequest, options: TunnelOptions): void {
  const { store } = options;
  const started = nowMs();
  const label = `${req.host}:${req.port}`;
  const flow = createFlow({
    kind: 'tunnel',
    scheme: 'tcp',
    host: req.host,
    port: req.port,
    request: req.request,
    clientConnection: req.client,
  });
  flow.notes.push(req.reason);
  store.add(flow);
  const upstream = netConnect({ host: bareHost(req.host), port: req.port });
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
  const connectTimer = setTimeout(() => {
    failBeforeConnect(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'connect', label, `TCP connection to ${label} timed out after ${options.connectTimeout} ms`));
    upstream.destroy();
  }, options.connectTimeout);
  upstream.setNoDelay(true);
  upstream.once('connect', () => {
    clearTimeout(connectTimer);
    connected = true;
    flow.serverIPAddress = upstream.remoteAddress ?? null;
    flow.timings.connect = roundMs(nowMs() - started);
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
    req.socket.pipe(upstream);
    upstream.pipe(req.socket);
    req.socket.resume();
  });
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
