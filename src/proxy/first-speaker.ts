/**
 * Who speaks first in a CONNECT tunnel whose client is quiet. A TLS or HTTP client speaks first;
 * SMTP, SSH, FTP, POP3 and IMAP servers greet first while their client waits. A slow client and a
 * waiting client look the same from the client side, so the upstream is asked: a plain TCP probe
 * to the CONNECT target, opened once the client has been quiet for a while. If the server sends
 * bytes (or hangs up) before the client sends any, the tunnel is server-speaks-first and the probe
 * becomes its upstream socket, greeting included; if the client speaks first, the probe is closed.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { UpstreamError } from '../errors.js';
import { roundMs } from '../capture/flow.js';
import { bareHost } from './hosts.js';
import { nowMs } from './socket-state.js';
import { tunnelFailure } from './tunnel.js';

/**
 * How long a client may stay quiet after the CONNECT answer before the upstream is probed. TLS and
 * HTTP clients speak within a round trip, so they practically never cause a probe.
 */
export const PROBE_AFTER_QUIET_MS = 400;

/** A probe whose server spoke first: the connected socket (paused) and what it said. */
export interface SpokenProbe {
  socket: Socket;
  /** The server's first bytes, read before the client sent any; empty if it hung up instead. */
  greeting: Buffer;
  /** The server closed its side before the client spoke. */
  ended: boolean;
  /** ms from starting the probe to TCP connected. */
  connectMs: number;
}

export type ProbeOutcome = { kind: 'spoke'; probe: SpokenProbe } | { kind: 'failed'; error: UpstreamError };

export interface UpstreamProbe {
  /** Closes the probe (the client spoke first, or the tunnel is gone); no outcome is reported after. */
  cancel(): void;
}

/**
 * Opens a plain TCP connection to host:port and reports once, when the server sends its first bytes,
 * closes, or cannot be reached (DNS, refused, reset, or no TCP handshake within `connectTimeout`).
 * A server that accepts and stays quiet reports nothing: the caller's own deadline ends the wait.
 */
export function probeUpstream(host: string, port: number, connectTimeout: number, onOutcome: (outcome: ProbeOutcome) => void): UpstreamProbe {
  const label = `${host}:${port}`;
  const started = nowMs();
  const socket = netConnect({ host: bareHost(host), port });
  socket.setNoDelay(true);
  let connected = false;
  let connectMs = 0;
  let settled = false;
  const detach = (): void => {
    settled = true;
    clearTimeout(connectTimer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    // Errors after the hand-over belong to the tunnel's own listeners; until then none may escape.
    socket.on('error', () => {});
  };
  const fail = (error: UpstreamError): void => {
    if (settled) return;
    detach();
    socket.destroy();
    onOutcome({ kind: 'failed', error });
  };
  const spoke = (greeting: Buffer, ended: boolean): void => {
    if (settled) return;
    detach();
    socket.pause();
    onOutcome({ kind: 'spoke', probe: { socket, greeting, ended, connectMs } });
  };
  const onData = (chunk: Buffer): void => spoke(chunk, false);
  const onEnd = (): void => spoke(Buffer.alloc(0), true);
  const onError = (err: NodeJS.ErrnoException): void => fail(tunnelFailure(err, host, label, connected));
  const connectTimer = setTimeout(() => {
    fail(new UpstreamError('MITM_ERR_UPSTREAM_TIMEOUT', 'connect', label, `TCP connection to ${label} timed out after ${connectTimeout} ms`));
  }, connectTimeout);
  socket.once('connect', () => {
    clearTimeout(connectTimer);
    connected = true;
    connectMs = roundMs(nowMs() - started);
  });
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  return {
    cancel(): void {
      if (settled) return;
      detach();
      socket.destroy();
    },
  };
}
