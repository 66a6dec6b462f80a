/**
 * The CONNECT request as the client sent it, for the flows a CONNECT produces (tunnels, failed
 * client handshakes): authority-form target, headers in wire order with their case, and proxy
 * credentials replaced so a shared capture never leaks them.
 */
import type { IncomingMessage } from 'node:http';
import { emptyRequest, pairHeaders, type CapturedRequest, type Header } from '../capture/flow.js';

/** Shown instead of a credential; keeps the scheme (`Basic`, `Bearer`) which helps debugging. */
export const REDACTED = '[redacted]';
const CREDENTIAL_HEADERS = new Set(['proxy-authorization']);

export function redactCredentials(headers: readonly Header[]): Header[] {
  return headers.map(([name, value]): Header => {
    if (!CREDENTIAL_HEADERS.has(name.toLowerCase())) return [name, value];
    const scheme = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s/.exec(value)?.[1];
    return [name, scheme ? `${scheme} ${REDACTED}` : REDACTED];
  });
}

/** The captured copy of a CONNECT request head (it has no body). */
export function connectRequest(req: Pick<IncomingMessage, 'url' | 'rawHeaders' | 'httpVersion'>): CapturedRequest {
  const request = emptyRequest('CONNECT', req.url ?? '', req.httpVersion);
  request.headers = redactCredentials(pairHeaders(req.rawHeaders));
  return request;
}
