import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyCapture, declaredLength } from '../../src/capture/body-capture.js';
import { emptyRequest } from '../../src/capture/flow.js';

test('chunks are captured in order up to the cap, with the true size and a truncation flag', () => {
  const m = emptyRequest('POST', '/');
  const c = new BodyCapture(m, 10);
  c.push(Buffer.from('hello '));
  c.push(Buffer.from('world, and more'));
  c.finish();
  assert.equal(m.body.toString(), 'hello worl');
  assert.equal(m.bodySize, 21);
  assert.equal(m.bodyTruncated, true);
});

test('a body under the cap is kept whole and untruncated', () => {
  const m = emptyRequest('POST', '/');
  const c = new BodyCapture(m, 1 << 20);
  const parts = Array.from({ length: 100 }, (_, i) => Buffer.from(`part-${i};`));
  for (const p of parts) c.push(p);
  c.finish();
  assert.deepEqual(m.body, Buffer.concat(parts));
  assert.equal(m.bodyTruncated, false);
});

test('the body is visible while it streams, before finish()', () => {
  const m = emptyRequest('POST', '/');
  const c = new BodyCapture(m, 100, 8);
  c.push(Buffer.from('abcd'));
  assert.equal(m.body.toString(), 'abcd');
  c.push(Buffer.from('efgh'));
  assert.equal(m.body.toString(), 'abcdefgh');
});

test('a zero cap keeps nothing but still counts', () => {
  const m = emptyRequest('POST', '/');
  const c = new BodyCapture(m, 0);
  c.push(Buffer.from('x'));
  assert.equal(m.body.length, 0);
  assert.equal(m.bodySize, 1);
  assert.equal(m.bodyTruncated, true);
});

test('Content-Length is read only when it is a plain number', () => {
  assert.equal(declaredLength('123'), 123);
  assert.equal(declaredLength('12, 12'), null);
  assert.equal(declaredLength(undefined), null);
  assert.equal(declaredLength('-1'), null);
});
