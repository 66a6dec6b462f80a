/**
 * Per-socket state lives here, in typed WeakMaps, never as properties patched onto Node's
 * sockets, whose types would then lie. Entries vanish with their sockets.
 */
import type { Socket } from 'node:net';
import { roundMs, type Connection, type Flow } from '../capture/flow.js';

/** What a decrypted (or tunnelled plain-HTTP) client socket is talking to. */
export interface TunnelContext {
  scheme: 'http' | 'https';
  /** Host and port from the CONNECT request. */
  connectHost: string;
  connectPort: number;
  /** SNI the client sent, if any; the upstream TLS connection uses it. */
  sni: string | null;
  client: Connection;
  /** The client's TCP socket under the TLS one (a reset must reach TCP). */
  raw: Socket;
}

/** How an upstream socket was made: timings of its set-up and its Connection record. */
export interface UpstreamSocketInfo {
  connection: Connection;
  /** hrtime (ms) when the agent started making this connection. */
  startedAt: number;
  dns: number;
  connect: number;
  ssl: number;
  /** Number of requests that have used the socket so far. */
  uses: number;
  remoteAddress: string;
}

/**
 * Attaches the upstream socket a flow's request went out on: its Connection, address, and the
 * HAR set-up phases — blocked, dns, connect, ssl — which belong to the first exchange on a fresh
 * connection (HAR 1.2 §timings); a reused one only waited (`blocked`). Returns the socket info.
 */
export function attachUpstream(flow: Flow, socket: Socket, tRequest: number, tSocket: number): UpstreamSocketInfo | undefined {
  const info = upstreams.get(socket);
  if (!info) return undefined;
  info.uses += 1;
  flow.serverConnection = info.connection;
  flow.serverIPAddress = info.remoteAddress;
  const t = flow.timings;
  if (info.uses === 1) {
    t.blocked = roundMs(info.startedAt - tRequest);
    t.dns = info.dns < 0 ? -1 : roundMs(info.dns);
    t.connect = roundMs(info.connect);
    t.ssl = info.ssl < 0 ? -1 : roundMs(info.ssl);
  } else {
    t.blocked = roundMs(tSocket - tRequest);
  }
  return info;
}

const tunnels = new WeakMap<Socket, TunnelContext>();
const upstreams = new WeakMap<Socket, UpstreamSocketInfo>();
const failedUpstreams = new WeakMap<Error, Connection>();

/** Remembers the connection an upstream failure happened on (TCP made, then TLS failed). */
export function setFailedUpstream(err: Error, connection: Connection): void {
  failedUpstreams.set(err, connection);
}

/**
 * Puts on a failed flow the upstream connection its failure happened on, so the server leg's
 * handshake — what we offered, the alert or certificate that ended it — is kept with the flow.
 */
export function attachFailedUpstream(flow: Flow, err: unknown): void {
  if (flow.serverConnection || !(err instanceof Error)) return;
  const connection = failedUpstreams.get(err);
  if (!connection) return;
  flow.serverConnection = connection;
  flow.serverIPAddress = connection.address;
}

export function setTunnel(socket: Socket, ctx: TunnelContext): void {
  tunnels.set(socket, ctx);
}

export function getTunnel(socket: Socket): TunnelContext | undefined {
  return tunnels.get(socket);
}

export function setUpstream(socket: Socket, info: UpstreamSocketInfo): void {
  upstreams.set(socket, info);
}

export function getUpstream(socket: Socket): UpstreamSocketInfo | undefined {
  return upstreams.get(socket);
}

/** Monotonic clock in ms with sub-millisecond precision. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

const clients = new WeakMap<Socket, { connection: Connection; acceptedAt: number }>();

/** The client Connection of an accepted socket, with the hrtime it was accepted at. */
export function setClient(socket: Socket, connection: Connection, acceptedAt: number): void {
  clients.set(socket, { connection, acceptedAt });
}

export function getClient(socket: Socket): { connection: Connection; acceptedAt: number } | undefined {
  return clients.get(socket);
}
