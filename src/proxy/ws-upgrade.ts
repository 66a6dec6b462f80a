/**
 * The HTTP part of a WebSocket upgrade: which requests are WebSocket upgrades, where a plain-proxy
 * upgrade goes, serving other upgrades as plain requests, writing an upstream answer back to the
 * client as it came, and reading the negotiated extensions.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { pairHeaders } from '../capture/flow.js';
import { MitmError } from '../errors.js';
import { getClient, setClient } from './socket-state.js';
import type { DeflateParams } from './ws-recorder.js';

/** A GET asking to upgrade to WebSocket (RFC 6455 §4.1); other upgrades (h2c...) are plain requests to us. */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade ?? '';
  return req.method === 'GET' && upgrade.split(',').some((token) => token.trim().toLowerCase() === 'websocket');
}

/** Where a plain-proxy upgrade goes: `GET http://host[:port]/path` (or `ws://`), as for HTTP. */
export function proxyUpgradeTarget(url: string): { host: string; port: number } | MitmError {
  if (/^(https|wss):\/\//i.test(url)) {
    return new MitmError('MITM_ERR_BAD_REQUEST', 'received a wss:// URL in a plain proxy request; clients send CONNECT for wss (set HTTPS_PROXY, not only HTTP_PROXY)');
  }
  if (/^(http|ws):\/\//i.test(url)) {
    try {
      const parsed = new URL(url);
      return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : 80 };
    } catch {
      // Falls through to the explanation below.
    }
  }
  return new MitmError('MITM_ERR_BAD_REQUEST', `cannot proxy the WebSocket upgrade "${url.slice(0, 200)}": expected an absolute http:// or ws:// URL, or CONNECT host:port`);
}

/**
 * A non-WebSocket upgrade (such as h2c) is served as a plain request without the upgrade
 * (RFC 9110 §7.8 lets a server ignore Upgrade): Node has already detached the socket, so the
 * request is written back in front of its remaining bytes and the server parses it again.
 */
export function replayWithoutUpgrade(server: Server, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const connectionTokens = (req.headers.connection ?? '').split(',').map((t) => t.trim().toLowerCase());
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
  for (const [name, value] of pairHeaders(req.rawHeaders)) {
    const lower = name.toLowerCase();
    if (lower === 'upgrade' || connectionTokens.includes(lower)) continue;
    if (lower === 'connection') {
      // The headers its other tokens named are gone; only the persistence tokens still mean something.
      const kept = value.split(',').map((t) => t.trim()).filter((t) => /^(close|keep-alive)$/i.test(t));
      if (kept.length > 0) lines.push(`${name}: ${kept.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  socket.unshift(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head]));
  // The outer server's 'connection' listener would make a second client record for the same socket.
  const known = getClient(socket);
  server.emit('connection', socket);
  if (known) setClient(socket, known.connection, known.acceptedAt);
  socket.resume();
}

/** Parses the server's Sec-WebSocket-Extensions answer for what the recorders must undo. */
export function negotiatedDeflate(extensions: string | null): { send: DeflateParams | null; receive: DeflateParams | null; others: string[] } {
  const out: { send: DeflateParams | null; receive: DeflateParams | null; others: string[] } = { send: null, receive: null, others: [] };
  if (!extensions) return out;
  for (const offer of extensions.split(',')) {
    const [name = '', ...params] = offer.split(';').map((p) => p.trim().toLowerCase());
    if (!name) continue;
    if (name !== 'permessage-deflate') {
      out.others.push(name);
      continue;
    }
    const has = (param: string): boolean => params.some((p) => p.split('=')[0]?.trim() === param);
    out.send = { noContextTakeover: has('client_no_context_takeover') };
    out.receive = { noContextTakeover: has('server_no_context_takeover') };
  }
  return out;
}

/** The status line and headers of an upstream answer, byte for byte as far as Node keeps them (case and order). */
export function statusLine(res: IncomingMessage): string {
  let head = `HTTP/${res.httpVersion} ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
  for (const [name, value] of pairHeaders(res.rawHeaders)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

