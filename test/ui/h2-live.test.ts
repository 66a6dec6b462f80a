/**
 * The page applies live HTTP/2 frame updates to the connection an open flow shows (ui/src/h2-live.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyFrames, FramesWatch } from '../../ui/src/h2-live.js';
import type { H2FramesEvent, Http2Connection, Http2Event, Http2Stream } from '../../ui/src/types.js';

const ev = (t: number, type = 'PING'): Http2Event => ({ t, from: 'client', type, stream: 0, details: {} });

function stream(streamId: number, dataFrames: number, connectionId = 'c1'): Http2Stream {
  return { leg: 'client', connectionId, streamId, reset: null, sides: { proxy: { headers: [1], firstData: 2, lastData: 3, dataFrames, dataBytes: 10 * dataFrames, end: null } } };
}

function update(first: number, events: Http2Event[], timings: Http2Stream[] = []): H2FramesEvent {
  return { type: 'h2-frames', connectionId: 'c1', leg: 'client', first, events, dropped: 2, streams: 3, windowUpdates: { client: { frames: 4, bytes: 400 } }, timings };
}

test('an update appends the events the record lacks, replaces the counters and updates the flow\'s stream', () => {
  const h2: Http2Connection = { events: [ev(1), ev(2)], dropped: 0, streams: 1, windowUpdates: {} };
  const mine = stream(1, 1);
  const other = stream(1, 1, 'c2');
  // Overlaps what a refetch already brought (event 2), adds event 3.
  assert.equal(applyFrames(h2, [mine, other], update(1, [ev(2), ev(3)], [stream(1, 7), stream(9, 1)])), true);
  assert.deepEqual(h2, { events: [ev(1), ev(2), ev(3)], dropped: 2, streams: 3, windowUpdates: { client: { frames: 4, bytes: 400 } } });
  assert.equal(mine.sides.proxy?.dataFrames, 7);
  assert.equal(other.sides.proxy?.dataFrames, 1, 'another connection\'s stream 1 is not this one');
});

test('an update past what the record holds is refused: the flow must be refetched', () => {
  const h2: Http2Connection = { events: [ev(1)], dropped: 0, streams: 1, windowUpdates: {} };
  assert.equal(applyFrames(h2, [], update(3, [ev(4)])), false);
  assert.deepEqual(h2.events, [ev(1)]);
});

test('updates reach the watchers of their connection only, and say when one missed events', () => {
  const watch = new FramesWatch();
  const seen: number[] = [];
  const stop = watch.watch('c1', (u) => {
    seen.push(u.first);
    return u.first === 0;
  });
  assert.equal(watch.dispatch({ ...update(0, []), connectionId: 'other' }), true);
  assert.equal(watch.dispatch(update(0, [])), true);
  assert.equal(watch.dispatch(update(5, [])), false);
  stop();
  assert.equal(watch.dispatch(update(9, [])), true);
  assert.deepEqual(seen, [0, 5]);
});
