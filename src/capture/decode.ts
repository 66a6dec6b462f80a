/**
 * Undoing a captured body's Content-Encoding (gzip, deflate, br) as far as the captured bytes
 * allow, for the body view and for searches that look at bodies as the user sees them.
 */
import type { Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { CapturedMessage } from './flow.js';
import { contentCoding } from '../har/body.js';

/**
 * Decoded output is capped: the store keeps up to `--max-body` compressed, and a decompression
 * bomb must not turn that into gigabytes. 64 MiB covers real ratios (~20:1 for text).
 */
export const MAX_DECODED_BYTES = 64 * 1024 * 1024;
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
