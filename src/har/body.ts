/**
 * Bodies in HAR: bytes ⇄ `text` (UTF-8 when textual, else base64) and Content-Encoding
 * decoding/re-encoding, because HAR `content.text` holds the decoded body (HAR 1.2 §content).
 */
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';
import { headerValue, type Header } from '../capture/flow.js';

/**
 * Decoded bodies are capped: the store keeps up to `--max-body` (1 MiB) compressed, and a
 * decompression bomb must not turn that into gigabytes. 64 MiB covers real ratios (~20:1 for text).
 */
export const MAX_DECODED_BYTES = 64 * 1024 * 1024;

const TEXTUAL_MIME =
  /^\s*(text\/|application\/(json|xml|javascript|ecmascript|x-javascript|x-www-form-urlencoded|graphql|x-ndjson|csp-report)\b|[a-z]+\/[^;\s]*\+(json|xml)\b)/i;
/** C0 controls other than tab, LF, FF and CR (and DEL) suggest binary when no type is declared. */
const BINARY_CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f]/;

export function isTextualMime(mime: string): boolean {
  return TEXTUAL_MIME.test(mime);
}

export interface BodyText {
  text: string;
  base64: boolean;
}

/** Text as UTF-8 when the type says so and the bytes are valid UTF-8, otherwise base64: never lossy. */
export function bodyToText(body: Buffer, mime: string): BodyText {
  if (isUtf8(body)) {
    const text = body.toString('utf8');
    if (isTextualMime(mime) || (mime.trim() === '' && !BINARY_CONTROL.test(text))) return { text, base64: false };
  }
  return { text: body.toString('base64'), base64: true };
}

export function textToBody(text: string, base64: boolean): Buffer {
  return Buffer.from(text, base64 ? 'base64' : 'utf8');
}

export type ContentCoding = 'gzip' | 'deflate' | 'br';

/**
 * The single Content-Encoding of a message: null when absent or `identity`, the raw token when
 * we cannot undo it (stacked codings, zstd on Node 20).
 */
export function contentCoding(headers: readonly Header[]): string | null {
  const value = headerValue(headers, 'content-encoding')?.trim().toLowerCase();
  if (!value || value === 'identity') return null;
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  if (value === 'deflate' || value === 'br') return value;
  return value;
}

export function isKnownCoding(coding: string): coding is ContentCoding {
  return coding === 'gzip' || coding === 'deflate' || coding === 'br';
}

/** The decoded body, or null when the coding is unknown, the data is corrupt or it expands past the cap. */
export function decodeBody(body: Buffer, coding: string): Buffer | null {
  const limit = { maxOutputLength: MAX_DECODED_BYTES };
  try {
    if (coding === 'gzip') return zlib.gunzipSync(body, limit);
    if (coding === 'br') return zlib.brotliDecompressSync(body, limit);
    if (coding === 'deflate') {
      // RFC 9110 says zlib-wrapped, but servers also send raw deflate (what browsers accept too).
      try {
        return zlib.inflateSync(body, limit);
      } catch {
        return zlib.inflateRawSync(body, limit);
      }
    }
  } catch {
    return null;
  }
  return null;
}

/** Re-applies a coding to a decoded imported body so the captured bytes match the headers again. */
export function encodeBody(body: Buffer, coding: ContentCoding): Buffer {
  if (coding === 'gzip') return zlib.gzipSync(body);
  if (coding === 'br') return zlib.brotliCompressSync(body);
  return zlib.deflateSync(body);
}
