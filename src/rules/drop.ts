/**
 * `abort` rules end the client's connection without an answer: `reset` sends a TCP RST (what a
 * crashed server looks like), `close` a clean end of stream (a server that hung up).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { getTunnel } from '../proxy/socket-state.js';

export function dropConnection(res: ServerResponse, how: 'reset' | 'close'): void {
  const socket = res.socket as Socket | null;
  if (!socket) return;
  if (how === 'close') {
    socket.destroySoon();
    return;
  }
  // Inside a CONNECT tunnel the response socket is TLS over the client's TCP socket: reset that.
  const raw = getTunnel(socket)?.raw ?? socket;
  raw.resetAndDestroy();
  socket.destroy();
}
