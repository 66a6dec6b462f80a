/**
 * The one writer of mitmscope's own HTTP error answers — forwarding, CONNECT, tunnels, WebSocket
 * upgrades, malformed requests and the dashboard's upgrade refusals: the status comes from
 * statusFor(code), the plain-text body says what failed and where (`mitmscope: TLS handshake with
 * host:port failed: reason`) and `X-Mitmscope-Error` carries the code, so a script can branch on it
 * without reading prose.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { statusFor, type ErrorCode } from '../errors.js';

export const ERROR_HEADER = 'X-Mitmscope-Error';

/** What failed, as much as an answer needs: a MitmError, or a flow's recorded error. */
export interface ErrorAnswer {
  code: ErrorCode;
  message: string;
}

function errorBody(message: string): string {
  return `mitmscope: ${message}\n`;
}

function errorHeaders(code: ErrorCode, body: string): Record<string, string> {
  return {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    // The message may quote what the client sent; never let a browser sniff it into HTML.
    'X-Content-Type-Options': 'nosniff',
    [ERROR_HEADER]: code,
  };
}

/** Answers through an http.Server response whose headers are not sent yet. */
export function sendErrorResponse(res: ServerResponse, err: ErrorAnswer): void {
  const body = errorBody(err.message);
  res.writeHead(statusFor(err.code), errorHeaders(err.code, body));
  res.end(body);
}

/** The same answer as bytes, for a socket no http.Server writes to (CONNECT, upgrades, parse errors). */
export function rawErrorResponse(err: ErrorAnswer): string {
  const status = statusFor(err.code);
  const body = errorBody(err.message);
  const headers = Object.entries({ ...errorHeaders(err.code, body), Connection: 'close' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${headers}\r\n${body}`;
}

/** Writes the answer and closes the socket (the connection cannot carry another request). */
export function endWithErrorResponse(socket: Duplex, err: ErrorAnswer): void {
  socket.end(rawErrorResponse(err));
}
