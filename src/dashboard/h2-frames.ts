/**
 * How HTTP/2 frame announcements of one connection combine (sans-IO). A connection can carry
 * thousands of frames a second, so the live feed never sends one message per chunk: events of
 * the same connection within a batch merge into one, and a client that fell behind is owed only
 * the connection's latest state (its `first` past everything it may have missed, so the client
 * knows to fetch the flow for the listed events it skipped).
 */
import type { Http2Stream } from '../capture/flow.js';
import type { H2FramesEvent } from '../capture/store.js';

/** Fixed cost of one announcement and of one stream's timings (objects, JSON keys), over-estimated. */
const FRAMES_OVERHEAD_BYTES = 400;
const TIMING_BYTES = 400;
const EVENT_BYTES = 300;

/** The later timings of each stream win; first-seen order is kept. */
function mergeTimings(a: readonly Http2Stream[], b: readonly Http2Stream[]): Http2Stream[] {
  if (a.length === 0) return [...b];
  const byId = new Map<number, Http2Stream>();
  for (const s of a) byId.set(s.streamId, s);
  for (const s of b) byId.set(s.streamId, s);
  return [...byId.values()];
}

/** `earlier` then `later` as one announcement (a new object: subscribers share the originals, which are never mutated). */
export function mergeFrames(earlier: H2FramesEvent, later: H2FramesEvent): H2FramesEvent {
  // Announcements of one connection arrive in order, so `later.first` follows `earlier`'s events.
  const contiguous = earlier.first + earlier.events.length === later.first;
  return {
    ...later,
    first: contiguous ? earlier.first : later.first,
    // Most chunks list nothing (DATA, WINDOW_UPDATE): the list is then shared, never copied.
    events: !contiguous ? later.events : later.events.length === 0 ? earlier.events : [...earlier.events, ...later.events],
    timings: mergeTimings(earlier.timings, later.timings),
  };
}

/**
 * For a client that is behind: `later` folded into what it is owed for the connection, without
 * the listed events (their count moves `first` on), the counters and timings as of now.
 */
export function coalesceFrames(owed: H2FramesEvent | undefined, later: H2FramesEvent): H2FramesEvent {
  return {
    ...later,
    first: later.first + later.events.length,
    events: [],
    timings: owed ? mergeTimings(owed.timings, later.timings) : later.timings,
  };
}

/** Over-estimates an announcement's JSON length and heap size. */
export function framesBytes(e: H2FramesEvent): number {
  return FRAMES_OVERHEAD_BYTES + 2 * e.connectionId.length + e.events.length * EVENT_BYTES + e.timings.length * TIMING_BYTES;
}
