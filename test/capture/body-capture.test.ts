import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyCapture, RUN_BYTES } from '../../src/capture/body-capture.js';
import { emptyRequest } from '../../src/capture/flow.js';
import type { BodySink } from '../../src/capture/store.js';

/** A sink that keeps each run it is handed, or refuses once `refuseAfter` runs were taken. */
function sink(refuseAfter = Infinity): BodySink & { runs: Buffer[] } {
  const runs: Buffer[] = [];
  return {
    runs,
    append(buffers, length) {
      if (runs.length >= refuseAfter) return false;
      const run = Buffer.concat(buffers);
      assert.equal(run.length, length, 'the length handed over is the run’s length');
      runs.push(run);
      return true;
    },
  };
}

test('chunks are captured in order up to the cap, with the true size and a truncation flag', () => {
  const m = emptyRequest('POST', '/');
  const s = sink();
  const c = new BodyCapture(m, 10, s);
  c.push(Buffer.from('hello '));
  c.push(Buffer.from('world, and more'));
  c.finish();
  assert.equal(Buffer.concat(s.runs).toString(), 'hello worl');
  assert.equal(m.bodySize, 21);
  assert.equal(m.bodyTruncated, true);
});

test('a body under the cap is kept whole and untruncated, and nothing of it stays on the message', () => {
  const m = emptyRequest('POST', '/');
  const s = sink();
  const c = new BodyCapture(m, 1 << 20, s);
  const parts = Array.from({ length: 100 }, (_, i) => Buffer.from(`part-${i};`));
  for (const p of parts) c.push(p);
  c.finish();
  assert.deepEqual(Buffer.concat(s.runs), Buffer.concat(parts));
  assert.equal(m.bodyTruncated, false);
  assert.equal(m.body.length, 0);
});

test('a large body goes to the store in runs while it streams, so memory holds one run at most', () => {
  const m = emptyRequest('POST', '/');
  const s = sink();
  const c = new BodyCapture(m, 1 << 30, s);
  const chunk = Buffer.alloc(16 * 1024, 7);
  for (let i = 0; i < 64; i++) c.push(chunk);
  const before = s.runs.length;
  assert.ok(before >= (64 * chunk.length) / RUN_BYTES - 1, `runs were handed over before finish (${before})`);
  c.finish();
  assert.equal(Buffer.concat(s.runs).length, 64 * chunk.length);
});

test('a run the store refuses ends the copy and marks it truncated', () => {
  const m = emptyRequest('POST', '/');
  const s = sink(1);
  const c = new BodyCapture(m, 1 << 30, s);
  for (let i = 0; i < 3; i++) c.push(Buffer.alloc(RUN_BYTES, i));
  c.finish();
  assert.equal(s.runs.length, 1);
  assert.equal(m.bodyTruncated, true);
  assert.equal(m.bodySize, 3 * RUN_BYTES);
});

test('a zero cap keeps nothing but still counts', () => {
  const m = emptyRequest('POST', '/');
  const s = sink();
  const c = new BodyCapture(m, 0, s);
  c.push(Buffer.from('x'));
  c.finish();
  assert.equal(s.runs.length, 0);
  assert.equal(m.bodySize, 1);
  assert.equal(m.bodyTruncated, true);
});
