/**
 * Per-socket state lives here, in typed WeakMaps, never as properties patched onto Node's
 * sockets (DESIGN style rule 7). Entries vanish with their sockets.
 */
import type { Socket } from 'node:net';
import type { Connection } from '../capture/flow.js';

/** What a decrypted (or tunnelled plain-HTTP) client socket is talking to. */
export interface TunnelContext {
  scheme: 'http' | 'https';
  /** Host and port from the CONNECT request. */
  connectHost: string;
  connectPort: number;
  /** SNI the client sent, if any; the upstream TLS connection uses it. */
  sni: string | null;
  client: Connection;
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

const tunnels = new WeakMap<Socket, TunnelContext>();
const upstreams = new WeakMap<Socket, UpstreamSocketInfo>();

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
