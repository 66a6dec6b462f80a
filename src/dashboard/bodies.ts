/**
 * Serving captured bodies. The bytes are hostile (they came from anywhere on the internet), so
 * they go out as an opaque, sandboxed download that can never run under the dashboard's origin;
 * `?decode=1` undoes the Content-Encoding as far as the captured bytes allow.
 */
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { headerValue, type CapturedMessage, type Flow } from '../capture/flow.js';
import type { BodyPart, FlowStore } from '../capture/store.js';
import { contentCoding } from '../har/body.js';

/**
 * Decoded output is capped: the store keeps up to `--max-body` compressed, and a decompression
 * bomb must not turn that into gigabytes. 64 MiB covers real ratios (~20:1 for text).
 */
export const MAX_DECODED_BYTES = 64 * 1024 * 1024;
/** Filenames are for the user's download folder: short, ASCII, no path characters. */
const MAX_FILENAME_LENGTH = 100;
/** RFC 7230 field-value characters we pass through; captured headers from HAR imports may hold anything. */
const UNSAFE_HEADER_CHARS = /[^\t\x20-\x7e]/g;
/** Bodies render only inside a sandbox with nothing allowed, even if a browser ignores the type. */
export const BODY_CSP = "sandbox; default-src 'none'";

/**
 * `identity`: nothing to undo; `full`: decoded to the end; `partial`: decoded as far as the
 * bytes go (truncated capture, corrupt data or the size cap); `unsupported`: a coding we cannot
 * undo (sent as captured); `failed`: nothing decodable (sent as captured).
 */
export type DecodeOutcome = 'identity' | 'full' | 'partial' | 'unsupported' | 'failed';

export interface Decoded {
  bytes: Buffer;
  outcome: DecodeOutcome;
}

/** RFC 1950 §2.2: CMF says deflate, and CMF·256+FLG is a multiple of 31. */
function hasZlibHeader(body: Buffer): boolean {
  return body.length >= 2 && (body[0]! & 0x0f) === 8 && ((body[0]! << 8) | body[1]!) % 31 === 0;
}

function decoderFor(coding: 'gzip' | 'deflate' | 'br', body: Buffer): Transform {
  if (coding === 'gzip') return zlib.createGunzip();
  if (coding === 'br') return zlib.createBrotliDecompress();
  // RFC 9110 says zlib-wrapped, but servers also send raw deflate and browsers accept both.
  return hasZlibHeader(body) ? zlib.createInflate() : zlib.createInflateRaw();
}

/**
 * Streams the body through the decoder, keeping every byte produced before an error, so a
 * truncated capture still shows its beginning.
 */
function inflate(decoder: Transform, body: Buffer, limit: number): Promise<{ out: Buffer; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (complete: boolean): void => {
      if (settled) return;
      settled = true;
      decoder.destroy();
      resolve({ out: Buffer.concat(chunks, size), complete });
    };
    decoder.on('data', (chunk: Buffer) => {
      if (settled) return;
      const room = limit - size;
      if (chunk.length > room) {
        chunks.push(chunk.subarray(0, room));
        size = limit;
        finish(false);
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    decoder.once('end', () => finish(true));
    decoder.once('error', () => finish(false));
    decoder.end(body);
  });
}

/** `body` is the captured copy of `message`'s body. */
export async function decodeContent(message: CapturedMessage, body: Buffer, limit = MAX_DECODED_BYTES): Promise<Decoded> {
  const coding = contentCoding(message.headers);
  if (coding === null || body.length === 0) return { bytes: body, outcome: 'identity' };
  if (coding !== 'gzip' && coding !== 'deflate' && coding !== 'br') return { bytes: body, outcome: 'unsupported' };
  const { out, complete } = await inflate(decoderFor(coding, body), body, limit);
  if (out.length === 0 && !complete) return { bytes: body, outcome: 'failed' };
  return { bytes: out, outcome: complete && !message.bodyTruncated ? 'full' : 'partial' };
}

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
