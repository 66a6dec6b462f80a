/**
 * Sans-IO HTTP/2 frame reader (RFC 9113 §3.4, §4, §6): bytes of one direction in, frame events
 * out. It never decodes HPACK (Node's http2 does that for the proxy) and never holds a DATA or
 * header-block payload: those are counted and skipped, so a 1 GiB body costs no memory here.
 * Control frames are read whole (their payloads are small) and their fields named. Malformed
 * input becomes one `error` event with the RFC 9113 §7 code a peer would answer with, after which
 * the reader stays silent; it never throws.
 */

/** RFC 9113 §3.4: every client connection starts with these 24 octets. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** RFC 9113 §4.1: the fixed frame header. */
const FRAME_HEADER_BYTES = 9;
/** Control payloads are read up to this size; a longer GOAWAY debug text is cut, not buffered. */
const MAX_CONTROL_PAYLOAD = 16 * 1024;
/** RFC 9113 §6.5.1: each setting is a 16-bit id and a 32-bit value. */
const SETTING_BYTES = 6;

export const FRAME_TYPES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'] as const;

/** RFC 9113 §7, in code order. */
export const ERROR_CODE_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
] as const;

/** RFC 9113 §6.5.2, RFC 8441 §3 and RFC 9218 §2.1. */
const SETTING_NAMES: Readonly<Record<number, string>> = {
  1: 'HEADER_TABLE_SIZE',
  2: 'ENABLE_PUSH',
  3: 'MAX_CONCURRENT_STREAMS',
  4: 'INITIAL_WINDOW_SIZE',
  5: 'MAX_FRAME_SIZE',
  6: 'MAX_HEADER_LIST_SIZE',
  8: 'ENABLE_CONNECT_PROTOCOL',
  9: 'NO_RFC7540_PRIORITIES',
};

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;

const TYPE_DATA = 0;
const TYPE_HEADERS = 1;
const TYPE_PRIORITY = 2;
const TYPE_RST_STREAM = 3;
const TYPE_SETTINGS = 4;
const TYPE_PUSH_PROMISE = 5;
const TYPE_PING = 6;
const TYPE_GOAWAY = 7;
const TYPE_WINDOW_UPDATE = 8;
const TYPE_CONTINUATION = 9;

export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `UNKNOWN_0x${code.toString(16)}`;
}

export function settingName(id: number): string {
  return SETTING_NAMES[id] ?? `UNKNOWN_0x${id.toString(16)}`;
}

export type H2FrameEvent =
  | { type: 'preface' }
  | { type: 'DATA'; stream: number; length: number; endStream: boolean }
  | { type: 'HEADERS'; stream: number; length: number; endStream: boolean; endHeaders: boolean }
  | { type: 'CONTINUATION'; stream: number; length: number; endHeaders: boolean }
  | { type: 'PRIORITY'; stream: number }
  | { type: 'RST_STREAM'; stream: number; code: number; error: string }
  | { type: 'SETTINGS'; ack: boolean; settings: Array<{ id: number; name: string; value: number }> }
  | { type: 'PUSH_PROMISE'; stream: number; promised: number }
  | { type: 'PING'; ack: boolean; data: string }
  | { type: 'GOAWAY'; lastStream: number; code: number; error: string; debug: string }
  | { type: 'WINDOW_UPDATE'; stream: number; increment: number }
  | { type: 'UNKNOWN'; frameType: number; stream: number; length: number }
  | { type: 'error'; code: string; reason: string };

export interface FrameReaderOptions {
  /** True for the client → server direction: the 24-octet preface comes first. */
  expectPreface: boolean;
}

interface PendingFrame {
  length: number;
  type: number;
  flags: number;
  stream: number;
  /** Payload octets still to arrive (kept or skipped). */
  remaining: number;
  kept: Buffer[];
  keptLength: number;
  keep: number;
}

export class H2FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  private prefaceLeft: number;
  private sawFirstFrame = false;
  private frame: PendingFrame | null = null;
  /** Set once the input is malformed: nothing more is parsed. */
  failed = false;
  /** Counts of every frame read, by type name. */
  readonly counts: Record<string, number> = {};

  constructor(options: FrameReaderOptions) {
    this.prefaceLeft = options.expectPreface ? CLIENT_PREFACE.length : 0;
  }

  push(chunk: Buffer): H2FrameEvent[] {
    const out: H2FrameEvent[] = [];
    if (this.failed || chunk.length === 0) return out;
    let data = this.buffer.length > 0 ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.buffer = Buffer.alloc(0);
    if (this.prefaceLeft > 0) {
      const offset = CLIENT_PREFACE.length - this.prefaceLeft;
      const n = Math.min(this.prefaceLeft, data.length);
      if (!data.subarray(0, n).equals(CLIENT_PREFACE.subarray(offset, offset + n))) {
        return this.fail(out, 'PROTOCOL_ERROR', 'the connection did not start with the HTTP/2 client preface');
      }
      this.prefaceLeft -= n;
      data = data.subarray(n);
      if (this.prefaceLeft === 0) out.push({ type: 'preface' });
    }
    while (data.length > 0 && !this.failed) {
      const frame = this.frame;
      if (frame === null) {
        if (data.length < FRAME_HEADER_BYTES) {
          this.buffer = Buffer.from(data);
          break;
        }
        this.startFrame(data, out);
        data = data.subarray(FRAME_HEADER_BYTES);
        continue;
      }
      const n = Math.min(frame.remaining, data.length);
      const keepNow = Math.min(n, frame.keep - frame.keptLength);
      if (keepNow > 0) {
        frame.kept.push(data.subarray(0, keepNow));
        frame.keptLength += keepNow;
      }
      frame.remaining -= n;
      data = data.subarray(n);
      if (frame.remaining === 0) this.endFrame(frame, out);
    }
    if (this.frame && this.frame.remaining === 0 && !this.failed) this.endFrame(this.frame, out);
    return out;
  }

  private fail(out: H2FrameEvent[], code: string, reason: string): H2FrameEvent[] {
    this.failed = true;
    this.buffer = Buffer.alloc(0);
    this.frame = null;
    out.push({ type: 'error', code, reason });
    return out;
  }

  private startFrame(data: Buffer, out: H2FrameEvent[]): void {
    const length = data.readUIntBE(0, 3);
    const type = data[3]!;
    const flags = data[4]!;
    const stream = data.readUInt32BE(5) & 0x7fffffff;
    if (!this.sawFirstFrame) {
      this.sawFirstFrame = true;
      // RFC 9113 §3.4: the first frame each side sends is SETTINGS.
      if (type !== TYPE_SETTINGS) {
        this.fail(out, 'PROTOCOL_ERROR', `the first frame is ${frameTypeName(type)}, not SETTINGS`);
        return;
      }
    }
    const needsPayload = type !== TYPE_DATA && type !== TYPE_HEADERS && type !== TYPE_CONTINUATION && type <= TYPE_CONTINUATION;
    const keep = type === TYPE_PUSH_PROMISE ? Math.min(length, 4 + 1) : needsPayload ? Math.min(length, MAX_CONTROL_PAYLOAD) : 0;
    this.frame = { length, type, flags, stream, remaining: length, kept: [], keptLength: 0, keep };
    if (length === 0) this.endFrame(this.frame, out);
  }

  private endFrame(frame: PendingFrame, out: H2FrameEvent[]): void {
    this.frame = null;
    const name = frameTypeName(frame.type);
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    const payload = frame.kept.length === 1 ? frame.kept[0]! : Buffer.concat(frame.kept);
    const event = this.decode(frame, payload);
    if (event.type === 'error') this.fail(out, event.code, event.reason);
    else out.push(event);
  }

  private decode(f: PendingFrame, p: Buffer): H2FrameEvent {
    const sizeError = (what: string): H2FrameEvent => ({ type: 'error', code: 'FRAME_SIZE_ERROR', reason: `${what} has length ${f.length}` });
    const streamError = (what: string): H2FrameEvent => ({ type: 'error', code: 'PROTOCOL_ERROR', reason: `${what} on stream ${f.stream}` });
    switch (f.type) {
      case TYPE_DATA: {
        if (f.stream === 0) return streamError('DATA');
        return { type: 'DATA', stream: f.stream, length: f.length, endStream: (f.flags & FLAG_END_STREAM) !== 0 };
      }
      case TYPE_HEADERS:
        if (f.stream === 0) return streamError('HEADERS');
        return { type: 'HEADERS', stream: f.stream, length: f.length, endStream: (f.flags & FLAG_END_STREAM) !== 0, endHeaders: (f.flags & FLAG_END_HEADERS) !== 0 };
      case TYPE_CONTINUATION:
        if (f.stream === 0) return streamError('CONTINUATION');
        return { type: 'CONTINUATION', stream: f.stream, length: f.length, endHeaders: (f.flags & FLAG_END_HEADERS) !== 0 };
      case TYPE_PRIORITY:
        if (f.length !== 5) return sizeError('PRIORITY');
        if (f.stream === 0) return streamError('PRIORITY');
        return { type: 'PRIORITY', stream: f.stream };
      case TYPE_RST_STREAM: {
        if (f.length !== 4) return sizeError('RST_STREAM');
        if (f.stream === 0) return streamError('RST_STREAM');
        const code = p.readUInt32BE(0);
        return { type: 'RST_STREAM', stream: f.stream, code, error: errorCodeName(code) };
      }
      case TYPE_SETTINGS: {
        if (f.stream !== 0) return streamError('SETTINGS');
        const ack = (f.flags & FLAG_ACK) !== 0;
        if (ack ? f.length !== 0 : f.length % SETTING_BYTES !== 0) return sizeError('SETTINGS');
        if (f.length > MAX_CONTROL_PAYLOAD) return sizeError('SETTINGS');
        const settings: Array<{ id: number; name: string; value: number }> = [];
        for (let i = 0; i + SETTING_BYTES <= p.length; i += SETTING_BYTES) {
          const id = p.readUInt16BE(i);
          settings.push({ id, name: settingName(id), value: p.readUInt32BE(i + 2) });
        }
        return { type: 'SETTINGS', ack, settings };
      }
      case TYPE_PUSH_PROMISE: {
        if (f.stream === 0) return streamError('PUSH_PROMISE');
        const padded = (f.flags & 0x8) !== 0;
        const at = padded ? 1 : 0;
        if (p.length < at + 4) return sizeError('PUSH_PROMISE');
        return { type: 'PUSH_PROMISE', stream: f.stream, promised: p.readUInt32BE(at) & 0x7fffffff };
      }
      case TYPE_PING:
        if (f.length !== 8) return sizeError('PING');
        if (f.stream !== 0) return streamError('PING');
        return { type: 'PING', ack: (f.flags & FLAG_ACK) !== 0, data: p.toString('hex') };
      case TYPE_GOAWAY: {
        if (f.length < 8) return sizeError('GOAWAY');
        if (f.stream !== 0) return streamError('GOAWAY');
        const code = p.readUInt32BE(4);
        return { type: 'GOAWAY', lastStream: p.readUInt32BE(0) & 0x7fffffff, code, error: errorCodeName(code), debug: p.subarray(8).toString('latin1') };
      }
      case TYPE_WINDOW_UPDATE: {
        if (f.length !== 4) return sizeError('WINDOW_UPDATE');
        const increment = p.readUInt32BE(0) & 0x7fffffff;
        // RFC 9113 §6.9: a zero increment is a (stream or connection) PROTOCOL_ERROR.
        if (increment === 0) return { type: 'error', code: 'PROTOCOL_ERROR', reason: `WINDOW_UPDATE with increment 0 on stream ${f.stream}` };
        return { type: 'WINDOW_UPDATE', stream: f.stream, increment };
      }
      default:
        // RFC 9113 §4.1: unknown frame types are ignored.
        return { type: 'UNKNOWN', frameType: f.type, stream: f.stream, length: f.length };
    }
  }
}

export function frameTypeName(type: number): string {
  return FRAME_TYPES[type] ?? `UNKNOWN_0x${type.toString(16)}`;
}
