/**
 * How a connection's HTTP/2 frame announcements combine on the live feed: merged within a batch,
 * and reduced to the latest state for a client that fell behind (src/dashboard/h2-frames.ts and
 * the backlog).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Http2Event, Http2Stream } from '../../src/capture/flow.js';
import type { H2FramesEvent } from '../../src/capture/store.js';
import { Backlog } from '../../src/dashboard/backlog.js';
import { coalesceFrames, mergeFrames } from '../../src/dashboard/h2-frames.js';

const ping = (t: number): Http2Event => ({ t, from: 'client', type: 'PING', stream: 0, details: { ack: false, data: '00' } });

function timing(streamId: number, dataFrames: number): Http2Stream {
  return { leg: 'client', connectionId: 'c1', streamId, reset: null, sides: { proxy: { headers: [1], firstData: 2, lastData: 3, dataFrames, dataBytes: dataFrames * 10, end: null } } };
}

function update(first: number, events: Http2Event[], timings: Http2Stream[] = [], connectionId = 'c1'): H2FramesEvent {
  return { type: 'h2-frames', connectionId, leg: 'client', first, events, dropped: 0, streams: 1, windowUpdates: {}, timings };
}

test('announcements of one connection merge into one: events in order, each stream once with its latest timings', () => {
  const a = update(0, [ping(1), ping(2)], [timing(1, 1), timing(3, 1)]);
  const b = { ...update(2, [ping(3)], [timing(1, 5)]), dropped: 4, streams: 2 };
  const merged = mergeFrames(a, b);
  assert.deepEqual(merged, { ...b, first: 0, events: [ping(1), ping(2), ping(3)], timings: [timing(1, 5), timing(3, 1)] });
  // The originals are shared with other subscribers: untouched.
  assert.deepEqual(a.events, [ping(1), ping(2)]);
});

test('a slow client is owed the latest counters and timings per connection, and where the listed events end', () => {
  const backlog = new Backlog(1024 * 1024);
  const events: H2FramesEvent[] = [];
  for (let i = 0; i < 1000; i++) events.push({ ...update(i, [ping(i)], [timing(1 + 2 * (i % 3), i)]), dropped: i });
  events.push(update(0, [ping(0)], [], 'c2'));
  backlog.add(events);
  const message = backlog.message();
  assert.equal(message?.type, 'batch');
  assert.deepEqual(message.type === 'batch' ? message.events : null, [
    { ...update(1000, [], [timing(1, 999), timing(3, 997), timing(5, 998)]), dropped: 999 },
    update(1, [], [], 'c2'),
  ]);
  assert.deepEqual(coalesceFrames(undefined, update(5, [ping(5)])), update(6, []));
});

test('a backlog past its budget from frame timings asks for a snapshot instead', () => {
  const backlog = new Backlog(64 * 1024);
  backlog.add(Array.from({ length: 1000 }, (_, i) => update(0, [], [timing(i, 1)], `c${i}`)));
  assert.equal(backlog.needsSnapshot, true);
  assert.equal(backlog.message(), null);
});
