/**
 * A sans-IO WebSocket frame parser (RFC 6455 §5.2): bytes in, frame events out. Payloads are
 * passed through as slices of the input, still masked, so a caller that keeps only the first
 * bytes of a large message never copies or unmasks the rest. It never throws: a protocol
 * violation becomes one `error` event, after which the parser ignores further input (the relay
 * keeps forwarding bytes; the endpoints judge the violation themselves).
 */

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

/** RFC 6455 §5.5: control frames carry at most 125 payload bytes. */
const MAX_CONTROL_PAYLOAD = 125;
/** Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask. */
const MAX_HEADER_BYTES = 14;
/** Extended 7-bit length values (RFC 6455 §5.2). */
const LENGTH_16 = 126;
const LENGTH_64 = 127;

export interface FrameHeader {
  fin: boolean;
  /** RSV1: set on the first frame of a message compressed with permessage-deflate (RFC 7692 §6). */
  rsv1: boolean;
  opcode: number;
  /** Masking key, or null for an unmasked (server → client) frame. */
  mask: Buffer | null;
  length: number;
}

export type FrameEvent =
  | { type: 'header'; header: FrameHeader }
  /** A piece of the current frame's payload, as on the wire; `offset` is its position in the payload (for unmasking). */
  | { type: 'payload'; raw: Buffer; offset: number }
  | { type: 'end' }
  | { type: 'error'; reason: string };

export function isControl(opcode: number): boolean {
  return opcode >= OPCODE_CLOSE;
}

function knownOpcode(opcode: number): boolean {
  return opcode <= OPCODE_BINARY || (opcode >= OPCODE_CLOSE && opcode <= OPCODE_PONG);
}

/** A copy of `raw` unmasked, `raw` starting at byte `offset` of its frame's payload. */
export function unmask(raw: Buffer, mask: Buffer | null, offset: number): Buffer {
  const out = Buffer.from(raw);
  if (!mask) return out;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! ^ mask[(offset + i) & 3]!;
  return out;
}

export class FrameParser {
  private header = Buffer.alloc(0);
  private remaining = 0;
  private offset = 0;
  private inPayload = false;
  private failed = false;

  /** Feeds bytes; returns the events they complete, in order. */
  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let pos = 0;
    while (!this.failed && pos < chunk.length) {
      if (this.inPayload) {
        const n = Math.min(this.remaining, chunk.length - pos);
        events.push({ type: 'payload', raw: chunk.subarray(pos, pos + n), offset: this.offset });
        pos += n;
        this.offset += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endFrame(events);
        continue;
      }
      // Header bytes are few: gather them until the header is complete.
      const need = Math.min(MAX_HEADER_BYTES - this.header.length, chunk.length - pos);
      const candidate = Buffer.concat([this.header, chunk.subarray(pos, pos + need)]);
      const parsed = parseHeader(candidate);
      if (parsed === null) {
        this.header = candidate;
        pos += need;
        continue;
      }
      if ('error' in parsed) {
        this.failed = true;
        events.push({ type: 'error', reason: parsed.error });
        break;
      }
      pos += parsed.size - this.header.length;
      this.header = Buffer.alloc(0);
      events.push({ type: 'header', header: parsed.header });
      this.remaining = parsed.header.length;
      this.offset = 0;
      this.inPayload = true;
      if (this.remaining === 0) this.endFrame(events);
    }
    return events;
  }

  private endFrame(events: FrameEvent[]): void {
    this.inPayload = false;
    events.push({ type: 'end' });
  }
}

type HeaderResult = { header: FrameHeader; size: number } | { error: string } | null;

/** The frame header at the start of `buf`, null when more bytes are needed. */
function parseHeader(buf: Buffer): HeaderResult {
  if (buf.length < 2) return null;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const fin = (b0 & 0x80) !== 0;
  const opcode = b0 & 0x0f;
  const masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  if (!knownOpcode(opcode)) return { error: `reserved opcode 0x${opcode.toString(16)}` };
  if (isControl(opcode) && (!fin || length > MAX_CONTROL_PAYLOAD)) return { error: `invalid control frame (opcode 0x${opcode.toString(16)}): fragmented or longer than ${MAX_CONTROL_PAYLOAD} bytes` };
  let size = 2;
  if (length === LENGTH_16) {
    if (buf.length < 4) return null;
    length = buf.readUInt16BE(2);
    size = 4;
  } else if (length === LENGTH_64) {
    if (buf.length < 10) return null;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) return { error: 'frame length beyond 2^53 bytes' };
    length = Number(big);
    size = 10;
  }
  let mask: Buffer | null = null;
  if (masked) {
    if (buf.length < size + 4) return null;
    mask = Buffer.from(buf.subarray(size, size + 4));
    size += 4;
  }
  return { header: { fin, rsv1: (b0 & 0x40) !== 0, opcode, mask, length }, size };
}
