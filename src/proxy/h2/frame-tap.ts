/**
 * Connects the sans-IO frame reader to one leg of an HTTP/2 connection: the plaintext bytes the
 * tapped stream sees in both directions become events on the Connection (control frames listed,
 * WINDOW_UPDATEs counted) and per-stream timings (HEADERS and DATA) that the stream's flow holds.
 */
import type { ByteObserver } from '../tapped-stream.js';
import { roundMs, type Connection, type Http2Connection, type Http2Event, type Http2Stream, type Http2StreamSide, type Leg, type Sender } from '../../capture/flow.js';
import { nowMs } from '../socket-state.js';
import { H2FrameReader, type H2FrameEvent } from './frames.js';

/** Connection-level events kept per connection; later ones are only counted. */
const MAX_EVENTS = 500;

export interface FrameTapListener {
  /** The peer's bytes are not valid HTTP/2 (the reader stops there). */
  onProtocolError?(event: Http2Event): void;
}

function emptySide(): Http2StreamSide {
  return { headers: [], firstData: null, lastData: null, dataFrames: 0, dataBytes: 0, end: null };
}

export class H2FrameTap implements ByteObserver {
  readonly info: Http2Connection = { events: [], dropped: 0, windowUpdates: {}, streams: 0 };
  /** Never done: the frames are the story for the connection's whole life. */
  readonly done = false;
  private readonly inbound: H2FrameReader;
  private readonly outbound: H2FrameReader;
  private readonly streams = new Map<number, Http2Stream>();

  constructor(
    private readonly connection: Connection,
    private readonly leg: Leg,
    /** hrtime (ms) the connection opened; event times are relative to it. */
    private readonly origin: number,
    private readonly listener: FrameTapListener = {},
  ) {
    connection.http2 = this.info;
    // The client sends the preface: on the client leg it comes in, on the server leg we send it.
    this.inbound = new H2FrameReader({ expectPreface: leg === 'client' });
    this.outbound = new H2FrameReader({ expectPreface: leg === 'server' });
  }

  observe(direction: 'in' | 'out', chunk: Buffer): void {
    const reader = direction === 'in' ? this.inbound : this.outbound;
    const events = reader.push(chunk);
    if (events.length === 0) return;
    const from: Sender = direction === 'out' ? 'proxy' : this.leg === 'client' ? 'client' : 'server';
    const t = roundMs(nowMs() - this.origin);
    for (const e of events) this.apply(e, from, t);
  }

  /** The timings of one stream (made on first sight); the stream's flow keeps the object. */
  stream(id: number): Http2Stream {
    let s = this.streams.get(id);
    if (!s) {
      s = { leg: this.leg, connectionId: this.connection.id, streamId: id, sides: {}, reset: null };
      this.streams.set(id, s);
    }
    return s;
  }

  /** The stream's flow is finished: later frames on it are not timed. */
  forget(id: number): void {
    this.streams.delete(id);
  }

  /** Records an event the proxy itself decided (not read from bytes), e.g. a refused stream. */
  note(from: Sender, type: string, stream: number, details: Record<string, unknown>): Http2Event {
    const event: Http2Event = { t: roundMs(nowMs() - this.origin), from, type, stream, details };
    this.push(event);
    return event;
  }

  private push(event: Http2Event): void {
    if (this.info.events.length >= MAX_EVENTS) this.info.dropped += 1;
    else this.info.events.push(event);
  }

  private side(stream: Http2Stream, from: Sender): Http2StreamSide {
    return (stream.sides[from] ??= emptySide());
  }

  private apply(e: H2FrameEvent, from: Sender, t: number): void {
    switch (e.type) {
      case 'HEADERS': {
        const s = this.stream(e.stream);
        if (Object.values(s.sides).every((x) => x.headers.length === 0)) this.info.streams += 1;
        const side = this.side(s, from);
        side.headers.push(t);
        if (e.endStream) side.end = t;
        return;
      }
      case 'DATA': {
        const s = this.streams.get(e.stream);
        if (!s) return;
        const side = this.side(s, from);
        side.firstData ??= t;
        side.lastData = t;
        side.dataFrames += 1;
        side.dataBytes += e.length;
        if (e.endStream) side.end = t;
        return;
      }
      case 'CONTINUATION':
        return;
      case 'WINDOW_UPDATE': {
        const count = (this.info.windowUpdates[from] ??= { frames: 0, bytes: 0 });
        count.frames += 1;
        count.bytes += e.increment;
        return;
      }
      case 'RST_STREAM': {
        const s = this.streams.get(e.stream);
        if (s) s.reset = { t, from, code: e.code, error: e.error };
        this.push({ t, from, type: e.type, stream: e.stream, details: { code: e.code, error: e.error } });
        return;
      }
      case 'error': {
        const event: Http2Event = { t, from, type: 'Error', stream: 0, details: { code: e.code, reason: e.reason } };
        this.push(event);
        this.listener.onProtocolError?.(event);
        return;
      }
      case 'preface':
        this.push({ t, from, type: 'Preface', stream: 0, details: {} });
        return;
      default: {
        const { type, ...details } = e;
        const stream = 'stream' in e ? e.stream : 0;
        delete (details as { stream?: number }).stream;
        this.push({ t, from, type, stream, details });
      }
    }
  }
}
