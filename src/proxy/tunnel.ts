/**
 * Raw TCP tunnels: hosts we do not intercept (ignored, passed through, or not speaking TLS or
 * HTTP) get their bytes relayed untouched and a `tunnel` flow that counts them.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { createFlow, emptyRequest, roundMs, type Connection } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import { nowMs } from './socket-state.js';
import { bareHost } from './hosts.js';

export interface TunnelRequest {
  socket: Socket;
  buffered: Buffer;
  host: string;
  port: number;
  client: Connection;
  reason: string;
  /** When set, the CONNECT has not been answered yet: answer 200 or 502 once the upstream is known. */
  pendingConnectReply: boolean;
}

export function openTunnel(req: TunnelRequest, store: FlowStore): void {
  const started = nowMs();
  const label = `${req.host}:${req.port}`;
  const flow = createFlow({
    kind: 'tunnel',
    scheme: 'tcp',
    host: req.host,
    port: req.port,
    request: emptyRequest('CONNECT', label),
    clientConnection: req.client,
  });
  flow.notes.push(req.reason);
  store.add(flow);
  const upstream = netConnect({ host: bareHost(req.host), port: req.port });
  let connected = false;
  const finish = (err: string | null): void => {
    if (flow.state !== 'pending') return;
    flow.duration = roundMs(nowMs() - started);
    flow.state = err ? 'error' : 'complete';
    if (err) flow.error = { stage: connected ? 'tunnel' : 'connect', code: connected ? 'MITM_ERR_UPSTREAM_RESET' : 'MITM_ERR_UPSTREAM_CONNECT', message: err };
    store.update(flow);
  };
  upstream.setNoDelay(true);
  upstream.once('connect', () => {
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
    const msg = connected ? `tunnel to ${label} broke: ${err.code ?? err.message}` : `TCP connection to ${label} failed: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.code ?? err.message}`;
    finish(msg);
    if (!connected && req.pendingConnectReply && !req.socket.destroyed) {
      const body = `mitmscope: ${msg}\n`;
      req.socket.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    } else req.socket.destroy();
  });
  req.socket.on('error', () => {
    upstream.destroy();
  });
  upstream.on('close', () => {
    finish(null);
    req.socket.destroy();
  });
  req.socket.on('close', () => {
    upstream.destroy();
    finish(null);
  });
}
