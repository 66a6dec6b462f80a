/**
 * The frame tap's record of one connection stays bounded however long the connection lives,
 * and every chunk's changes are reported for the live feed. Bytes are built frame by frame
 * (RFC 9113 §4.1) and fed to the tap as a tapped stream would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../../src/capture/flow.js';
import { CLIENT_PREFACE } from '../../../src/proxy/h2/frames.js';
import { H2FrameTap, MAX_EVENTS, MAX_TRACKED_STREAMS, type FramesChange } from '../../../src/proxy/h2/frame-tap.js';
import { nowMs } from '../../../src/proxy/socket-state.js';

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
const headers = (stream: number, flags: number): Buffer => frame(1, flags | END_HEADERS, stream, Buffer.from([0x82]));
const data = (stream: number, length: number, flags = 0): Buffer => frame(0, flags, stream, Buffer.alloc(length, 0x61));
const ping = (n: number, flags = 0): Buffer => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(n, 4);
  return frame(6, flags, 0, p);
};
const windowUpdate = (increment: number): Buffer => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(8, 0, 0, p);
};

function clientConnection(): Connection {
  return { id: 'c1', side: 'client', address: '127.0.0.1', port: 1, host: 'example.test', openedAt: Date.now(), closedAt: null, tls: null };
}

test('a connection carrying thousands of streams and PINGs keeps a bounded record, reported chunk by chunk', () => {
  const changes: FramesChange[] = [];
  const connection = clientConnection();
  const tap = new H2FrameTap(connection, 'client', nowMs(), { onFrames: (c) => changes.push(c) });
  tap.observe('in', Buffer.concat([CLIENT_PREFACE, frame(4, 0, 0)]));
  tap.observe('out', Buffer.concat([frame(4, 0, 0), frame(4, ACK, 0)]));
  assert.deepEqual(
    changes.map((c) => [c.first, c.events.map((e) => `${e.from}:${e.type}`)]),
    [
      [0, ['client:Preface', 'client:SETTINGS']],
      [2, ['proxy:SETTINGS', 'proxy:SETTINGS']],
    ],
  );

  const STREAMS = 2000;
  const flowStreams = [];
  for (let i = 0; i < STREAMS; i++) {
    const id = 1 + 2 * i;
    tap.observe('in', headers(id, END_STREAM));
    // Every tenth flow holds on to its stream, as a flow does; the flow finishes on the last DATA.
    if (i % 10 === 0) flowStreams.push(tap.stream(id));
    tap.observe('out', Buffer.concat([headers(id, 0), data(id, 100), data(id, 50, END_STREAM)]));
    tap.observe('in', Buffer.concat([ping(i), windowUpdate(150)]));
    tap.observe('out', ping(i, ACK));
    assert.ok(tap.trackedStreams <= MAX_TRACKED_STREAMS, `${tap.trackedStreams} streams tracked after stream ${id}`);
  }
  const h2 = connection.http2!;
  assert.equal(h2.events.length, MAX_EVENTS, 'events are listed up to the cap');
  assert.equal(h2.dropped, 4 + 2 * STREAMS - MAX_EVENTS, 'the rest are counted');
  assert.equal(h2.streams, STREAMS);
  assert.deepEqual(h2.windowUpdates, { client: { frames: STREAMS, bytes: 150 * STREAMS } });
  for (const s of flowStreams) {
    assert.deepEqual(s.sides.proxy, { headers: [s.sides.proxy!.headers[0]!], firstData: s.sides.proxy!.firstData, lastData: s.sides.proxy!.lastData, dataFrames: 2, dataBytes: 150, end: s.sides.proxy!.lastData });
  }
  // Once the list is full a change lists nothing and names only the streams it touched.
  const last = changes.at(-1)!;
  assert.deepEqual(last, { first: MAX_EVENTS, events: [], timings: [] });
  const lastData = changes.at(-3)!;
  assert.deepEqual(lastData.timings.map((s) => s.streamId), [2 * STREAMS - 1]);
});

test('a finished flow\'s stream is timed until its last frame, then let go', () => {
  const tap = new H2FrameTap(clientConnection(), 'client', nowMs());
  tap.observe('in', Buffer.concat([CLIENT_PREFACE, frame(4, 0, 0), headers(1, END_STREAM)]));
  const s = tap.stream(1);
  tap.observe('out', Buffer.concat([frame(4, 0, 0), headers(1, 0), data(1, 10)]));
  // The flow settles before the proxy's final DATA is written.
  tap.forget(1);
  assert.equal(tap.trackedStreams, 1);
  tap.observe('out', data(1, 5, END_STREAM));
  assert.equal(s.sides.proxy?.dataBytes, 15);
  assert.notEqual(s.sides.proxy?.end, null);
  assert.equal(tap.trackedStreams, 0, 'ended and forgotten: let go');
  // Later frames naming it are not timed.
  tap.observe('out', data(1, 5));
  assert.equal(s.sides.proxy?.dataBytes, 15);
});
