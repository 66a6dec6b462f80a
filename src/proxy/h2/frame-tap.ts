/**
 * Connects the sans-IO frame reader to one leg of an HTTP/2 connection: the plaintext bytes the
 * tapped stream sees in both directions become events on the Connection (control frames listed,
 * WINDOW_UPDATEs counted) and per-stream timings (HEADERS and DATA) that the stream's flow holds.
 * The record stays bounded however long the connection lives: at most MAX_EVENTS listed events
 * (later ones counted in `dropped`), counters for WINDOW_UPDATE and DATA, and timings of at most
 * MAX_TRACKED_STREAMS streams (ended or finished ones are let go first). Each chunk's changes
 * are handed to `onFrames` so they can be pushed live.
 */
import type { ByteObserver } from '../tapped-stream.js';
import { roundMs, type Connection, type Http2Connection, type Http2Event, type Http2Stream, type Http2StreamSide, type Leg, type Sender } from '../../capture/flow.js';
import { nowMs } from '../socket-state.js';
import { H2FrameReader, type H2FrameEvent } from './frames.js';

/** Connection-level events kept per connection; later ones are only counted. */
export const MAX_EVENTS = 500;
/**
 * Streams whose timings the tap keeps updating. Past it, streams that ended (both sides sent
 * END_STREAM, or one was reset) or whose flow finished are let go oldest first: a flow keeps
 * its own stream's object.
 */
export const MAX_TRACKED_STREAMS = 256;

/** What one chunk of bytes (or one proxy decision) changed on the connection. */
export interface FramesChange {
  /** Index in `info.events` of `events[0]` (the count listed before this change). */
  first: number;
  /** Events listed by this change (none once the list is full: `dropped` grew instead). */
  events: Http2Event[];
  /** Streams whose HEADERS/DATA timings or reset changed. */
  timings: Http2Stream[];
}

export interface FrameTapListener {
  /** The peer's bytes are not valid HTTP/2 (the reader stops there). */
  onProtocolError?(event: Http2Event): void;
  /** The connection's record changed; called once per chunk read, after the chunk's frames. */
  onFrames?(change: FramesChange): void;
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
  /** Streams whose flow is finished, let go once they end (or to make room). */
  private readonly forgotten = new Set<number>();
  /** Streams touched by the chunk being read. */
  private readonly touched = new Set<Http2Stream>();

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
    const first = this.info.events.length;
    for (const e of events) this.apply(e, from, t);
    this.announce(first);
  }

  /** Tells the listener what the frames just read changed. */
  private announce(first: number): void {
    const timings = [...this.touched];
    this.touched.clear();
    for (const s of timings) {
      if (this.forgotten.has(s.streamId) && ended(s)) this.let(s.streamId);
    }
    this.trim();
    if (!this.listener.onFrames) return;
    this.listener.onFrames({ first, events: this.info.events.slice(first), timings });
  }

  /** Lets go of ended streams, oldest first, while more than MAX_TRACKED_STREAMS are kept. */
  private trim(): void {
    if (this.streams.size <= MAX_TRACKED_STREAMS) return;
    for (const [id, s] of this.streams) {
      if (this.streams.size <= MAX_TRACKED_STREAMS) return;
      if (ended(s) || this.forgotten.has(id)) this.let(id);
    }
  }

  private let(id: number): void {
    this.streams.delete(id);
    this.forgotten.delete(id);
  }

  /** Streams whose timings are still being kept up to date (at most MAX_TRACKED_STREAMS past a chunk). */
  get trackedStreams(): number {
    return this.streams.size;
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

  /**
   * The stream's flow is finished. Its last frames may still be on their way out (the flow can
   * settle before the final DATA is written), so it is timed until it ends, then let go.
   */
  forget(id: number): void {
    const s = this.streams.get(id);
    if (!s || ended(s)) this.streams.delete(id);
    else this.forgotten.add(id);
  }

  /** Records an event the proxy itself decided (not read from bytes), e.g. a refused stream. */
  note(from: Sender, type: string, stream: number, details: Record<string, unknown>): Http2Event {
    const event: Http2Event = { t: roundMs(nowMs() - this.origin), from, type, stream, details };
    const first = this.info.events.length;
    this.push(event);
    this.announce(first);
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
        this.touched.add(s);
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
        this.touched.add(s);
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
        if (s) {
          s.reset = { t, from, code: e.code, error: e.error };
          this.touched.add(s);
        }
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

/** Both sides sent END_STREAM, or the stream was reset: no more timings will come. */
function ended(s: Http2Stream): boolean {
  if (s.reset) return true;
  const sides = Object.values(s.sides);
  return sides.length >= 2 && sides.filter((x) => x.end !== null).length >= 2;
}
