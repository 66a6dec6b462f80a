/**
 * Serving captured bodies. The bytes are hostile (they came from anywhere on the internet), so
 * they go out as an opaque, sandboxed download that can never run under the dashboard's origin;
 * `?decode=1` undoes the Content-Encoding as far as the captured bytes allow.
 */
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { headerValue, type Flow } from '../capture/flow.js';
import type { BodyPart, FlowStore } from '../capture/store.js';
import { decodeContent } from '../capture/decode.js';

/** Filenames are for the user's download folder: short, ASCII, no path characters. */
const MAX_FILENAME_LENGTH = 100;
/** RFC 7230 field-value characters we pass through; captured headers from HAR imports may hold anything. */
const UNSAFE_HEADER_CHARS = /[^\t\x20-\x7e]/g;
/** Bodies render only inside a sandbox with nothing allowed, even if a browser ignores the type. */
export const BODY_CSP = "sandbox; default-src 'none'";

export function safeHeaderValue(value: string): string {
  return value.replace(UNSAFE_HEADER_CHARS, '?');
}

/** A download name from the URL's last path segment, reduced to characters that are safe everywhere. */
export function bodyFilename(url: string, side: 'request' | 'response'): string {
  let segment = '';
  try {
    segment = decodeURIComponent(new URL(url, 'http://x.invalid').pathname.split('/').pop() ?? '');
  } catch {
    segment = '';
  }
  const clean = segment.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, MAX_FILENAME_LENGTH);
  if (clean === '') return `${side}-body`;
  return side === 'response' ? clean : `request-body-${clean}`;
}

export interface BodyQuery {
  decode: boolean;
  inline: boolean;
}

/**
 * Sends a captured body from the session with the headers that keep it inert; `X-Mitmscope-*`
 * say what it was. As captured it streams from disk; decoded it is read whole (the captured copy
 * is capped by --max-body and the output by MAX_DECODED_BYTES).
 */
export async function sendBody(res: Response, store: FlowStore, flow: Flow, side: BodyPart, query: BodyQuery): Promise<void> {
  const message = side === 'request' ? flow.request : flow.response;
  if (!message) return;
  const type = headerValue(message.headers, 'content-type');
  if (type !== undefined) res.setHeader('X-Mitmscope-Content-Type', safeHeaderValue(type));
  const encoding = headerValue(message.headers, 'content-encoding');
  if (encoding !== undefined) res.setHeader('X-Mitmscope-Content-Encoding', safeHeaderValue(encoding));
  res.setHeader('X-Mitmscope-Body-Size', String(message.bodySize));
  res.setHeader('X-Mitmscope-Truncated', message.bodyTruncated ? '1' : '0');
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Security-Policy', BODY_CSP);
  res.setHeader('Cache-Control', 'no-store');
  const filename = bodyFilename(flow.request.url, side);
  res.setHeader('Content-Disposition', query.inline ? `inline; filename="${filename}"` : `attachment; filename="${filename}"`);
  if (query.decode) {
    const decoded = await decodeContent(message, await store.readBody(flow.id, side));
    res.setHeader('X-Mitmscope-Decode', decoded.outcome);
    res.status(200).end(decoded.bytes);
    return;
  }
  res.setHeader('Content-Length', String(store.storedBodySize(flow.id, side)));
  res.status(200);
  await pipeline(store.bodyStream(flow.id, side), res).catch(() => res.destroy());
}
