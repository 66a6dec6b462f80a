/**
 * Records what one sender sends over a relayed WebSocket: frames from the parser become Chrome-shaped
 * `WebSocketMessage`s with a capped copy of each payload. Nothing here holds a socket; the relay
 * pushes the bytes it forwards and gets messages back, in order, through `onMessage`.
 * Compressed messages (permessage-deflate, RFC 7692) are inflated for the copy only; output past
 * the cap is counted and dropped, so a message of any size costs at most the cap in memory.
 */
import { createInflateRaw, constants as zlib, type InflateRaw } from 'node:zlib';
import type { WebSocketMessage } from '../capture/flow.js';
import { FrameParser, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION, isControl, unmask, type FrameHeader } from './ws-frames.js';

/** RFC 7692 §7.2.2: the sender strips this empty stored block; the receiver appends it back. */
const DEFLATE_TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** The largest LZ77 window (RFC 7692 §7.1.2): inflating with it decodes any smaller window too. */
const INFLATE_WINDOW_BITS = 15;

export interface CloseFrame {
  /** Status code, null when the frame had no payload (RFC 6455 §7.1.5 reports that as 1005). */
  code: number | null;
  reason: string;
}

export interface DeflateParams {
  /** The sender resets its compression context after each message. */
  noContextTakeover: boolean;
}

export interface RecorderOptions {
  type: WebSocketMessage['type'];
  /** Most payload bytes copied per message (the proxy's maxBody). */
  maxData: number;
  /** Bytes of payload copies this flow may still keep; shared by both senders. */
  budget: { bytes: number };
  /** Set when permessage-deflate was negotiated: RSV1 then marks compressed messages. */
  deflate: DeflateParams | null;
  onMessage: (message: WebSocketMessage, close: CloseFrame | null) => void;
  /** Something could not be recorded (bad framing, undecodable payload); the relay goes on. */
  onProblem: (reason: string) => void;
}

/** Epoch seconds with sub-millisecond fractions, as Chrome writes message times. */
function epochSeconds(): number {
  return (performance.timeOrigin + performance.now()) / 1000;
}

/** Bytes kept of a payload whose full size is counted separately. */
class Capture {
  readonly parts: Buffer[] = [];
  kept = 0;
  size = 0;
  constructor(readonly cap: number) {}

  /** Takes a buffer the caller owns (an unmasked copy, or zlib output): it is kept, not copied. */
  add(piece: Buffer): void {
    this.size += piece.length;
    const room = this.cap - this.kept;
    if (room <= 0) return;
    const part = piece.length <= room ? piece : piece.subarray(0, room);
    this.parts.push(part);
    this.kept += part.length;
  }

  get bytes(): Buffer {
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
  }
}

interface Assembly {
  opcode: number;
  time: number;
  capture: Capture;
  /** Mask and compression of the frame being read. */
  frame: FrameHeader;
  inflate: Inflation | null;
}

/** Cuts a truncated UTF-8 copy back to its last whole character. */
function utf8Prefix(bytes: Buffer): string {
  let end = bytes.length;
  let back = 0;
  while (end - back - 1 >= 0 && back < 4 && (bytes[end - back - 1]! & 0xc0) === 0x80) back++;
  const lead = bytes[end - back - 1];
  if (lead !== undefined) {
    const width = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (width > back + 1) end -= back + 1;
  }
  return bytes.subarray(0, end).toString('utf8');
}

/**
 * Close frames are recorded as text `"<code> <reason>"` (or `""` without a code) so that both
 * senders' codes survive in the message list and in HAR, which has no field for them.
 */
export function closeData(close: CloseFrame): string {
  return close.code === null ? '' : close.reason ? `${close.code} ${close.reason}` : String(close.code);
}

function parseClose(payload: Buffer): CloseFrame {
  if (payload.length < 2) return { code: null, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

export class MessageRecorder {
  private readonly options: RecorderOptions;
  private readonly parser = new FrameParser();
  private readonly inflater: Inflater | null;
  private message: Assembly | null = null;
  private control: { header: FrameHeader; time: number; parts: Buffer[] } | null = null;
  /** Messages finish in order even when an earlier one is still being inflated. */
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  /** True once this sender has sent a close frame. */
  closeSeen = false;

  constructor(options: RecorderOptions) {
    this.options = options;
    this.inflater = options.deflate ? new Inflater(options.deflate.noContextTakeover) : null;
  }

  /** Feeds bytes exactly as relayed. */
  push(chunk: Buffer): void {
    if (this.stopped) return;
    for (const event of this.parser.push(chunk)) {
      switch (event.type) {
        case 'header':
          this.onHeader(event.header);
          break;
        case 'payload':
          this.onPayload(event.raw, event.offset);
          break;
        case 'end':
          this.onFrameEnd();
          break;
        case 'error':
          this.stop(`invalid WebSocket framing (${event.reason}): later messages from this sender are not recorded`);
          break;
      }
      if (this.stopped) return;
    }
  }

  /** Resolves once every message seen so far has been handed to `onMessage`. */
  drain(): Promise<void> {
    return this.queue;
  }

  destroy(): void {
    this.stopped = true;
    this.inflater?.destroy();
  }

  private stop(reason: string): void {
    this.stopped = true;
    this.options.onProblem(reason);
  }

  private onHeader(header: FrameHeader): void {
    if (isControl(header.opcode)) {
      this.control = { header, time: epochSeconds(), parts: [] };
      return;
    }
    if (header.opcode === OPCODE_CONTINUATION) {
      if (!this.message) return this.stop('a continuation frame without a message to continue');
      this.message.frame = header;
      return;
    }
    if (this.message) return this.stop('a new data frame inside a fragmented message');
    // The cap is reserved now and the unused part given back when the message is done.
    const cap = Math.max(0, Math.min(this.options.maxData, this.options.budget.bytes));
    this.options.budget.bytes -= cap;
    const capture = new Capture(cap);
    const compressed = header.rsv1 && this.inflater !== null;
    this.message = { opcode: header.opcode, time: epochSeconds(), capture, frame: header, inflate: compressed ? this.inflater!.begin(capture) : null };
  }

  private onPayload(raw: Buffer, offset: number): void {
    if (this.control) {
      this.control.parts.push(unmask(raw, this.control.header.mask, offset));
      return;
    }
    const m = this.message;
    if (!m) return;
    if (m.inflate) {
      m.inflate.write(unmask(raw, m.frame.mask, offset));
      return;
    }
    // Only the kept part is copied and unmasked; the rest is just counted.
    const room = m.capture.cap - m.capture.kept;
    if (room > 0) m.capture.add(unmask(raw.subarray(0, room), m.frame.mask, offset));
    m.capture.size += Math.max(0, raw.length - room);
  }

  private onFrameEnd(): void {
    const control = this.control;
    if (control) {
      this.control = null;
      const payload = Buffer.concat(control.parts);
      const opcode = control.header.opcode;
      const close = opcode === OPCODE_CLOSE ? parseClose(payload) : null;
      if (close) this.closeSeen = true;
      // Ping and pong payloads are application text in practice (RFC 6455 §5.5.2 leaves them opaque).
      const data = close ? closeData(close) : payload.toString('utf8');
      const message: WebSocketMessage = { type: this.options.type, time: control.time, opcode, size: payload.length, data, truncated: false };
      this.enqueue(async () => this.options.onMessage(message, close));
      return;
    }
    const m = this.message;
    if (!m || !m.frame.fin) return;
    this.message = null;
    const inflation = m.inflate;
    const finished = inflation ? inflation.end() : Promise.resolve(true);
    this.enqueue(async () => {
      const ok = await finished;
      if (!ok) this.options.onProblem('a compressed message could not be inflated: its copy is left empty');
      const c = m.capture;
      const bytes = ok ? c.bytes : Buffer.alloc(0);
      this.options.budget.bytes += c.cap - bytes.length;
      const truncated = c.size > bytes.length;
      const data = m.opcode === OPCODE_BINARY ? bytes.toString('base64') : truncated ? utf8Prefix(bytes) : bytes.toString('utf8');
      this.options.onMessage({ type: this.options.type, time: m.time, opcode: m.opcode, size: c.size, data, truncated }, null);
    });
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => this.options.onProblem(`recording failed: ${(err as Error).message}`));
  }
}

/** One message being inflated. */
interface Inflation {
  write(data: Buffer): void;
  /** Resolves true when the message inflated cleanly. */
  end(): Promise<boolean>;
}

/**
 * permessage-deflate decompression for the copies. Steps run strictly one after another, so
 * every byte a message inflates to reaches its own capture before the next message starts
 * (node:zlib delivers a flush's output before the flush callback, as `ws` relies on too).
 */
class Inflater {
  private zlib: InflateRaw | null = null;
  private sink: Capture | null = null;
  private failed = false;
  private chain: Promise<unknown> = Promise.resolve();
  private destroyed = false;

  constructor(private readonly noContextTakeover: boolean) {}

  begin(capture: Capture): Inflation {
    this.then(() => {
      if (this.noContextTakeover || this.failed || !this.zlib) this.reset();
      this.sink = capture;
    });
    return {
      write: (data) => {
        void this.then(() => this.zlib?.write(data)).catch(() => undefined);
      },
      end: () =>
        this.then(
          () =>
            new Promise<boolean>((resolve) => {
              const z = this.zlib;
              if (!z || this.failed || z.destroyed) return resolve(false);
              // A stream that fails mid-flush may never call the flush back.
              const onClose = (): void => resolve(false);
              z.once('close', onClose);
              z.write(DEFLATE_TRAILER);
              z.flush(zlib.Z_SYNC_FLUSH, () => {
                z.off('close', onClose);
                this.sink = null;
                resolve(!this.failed);
              });
            }),
        ).catch(() => false),
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.zlib?.destroy();
    this.zlib = null;
  }

  private then<T>(step: () => T | Promise<T>): Promise<T> {
    const next = this.chain.then(step);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private reset(): void {
    this.zlib?.destroy();
    this.failed = false;
    if (this.destroyed) return;
    const z = createInflateRaw({ windowBits: INFLATE_WINDOW_BITS });
    z.on('data', (chunk: Buffer) => this.sink?.add(chunk));
    z.on('error', () => {
      this.failed = true;
    });
    this.zlib = z;
  }
}
