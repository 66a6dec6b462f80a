import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize, type FlowSummary } from '../../src/capture/flow.js';
import { Backlog, summaryBytes, type LiveEvent } from '../../src/dashboard/backlog.js';
import { makeFlow } from './harness.js';

const BIG = 1024 * 1024;

function summary(url: string, status?: number): FlowSummary {
  return summarize(makeFlow(status === undefined ? { url } : { url, status }));
}

function updated(s: FlowSummary, status: number): FlowSummary {
  return { ...s, status, state: 'complete' };
}

test('a backlog keeps the latest summary per flow in first-seen order', () => {
  const known = summary('https://known.test/');
  const fresh = summary('https://fresh.test/');
  const backlog = new Backlog(BIG);
  backlog.add([
    { type: 'flow-update', flow: known },
    { type: 'flow', flow: fresh },
    { type: 'flow-update', flow: updated(known, 200) },
    { type: 'flow-update', flow: updated(fresh, 404) },
  ]);
  assert.deepEqual(backlog.message(), {
    type: 'batch',
    coalesced: true,
    events: [
      { type: 'flow-update', flow: updated(known, 200) },
      // The client never saw it: still a new flow, with its latest summary.
      { type: 'flow', flow: updated(fresh, 404) },
    ],
  });
});

test('a flow added and evicted while the client was behind is never mentioned; a known one is evicted', () => {
  const known = summary('https://known.test/');
  const passing = summary('https://passing.test/');
  const backlog = new Backlog(BIG);
  backlog.add([
    { type: 'flow', flow: passing },
    { type: 'flow-evicted', id: passing.id },
    { type: 'flow-update', flow: known },
    { type: 'flow-evicted', id: known.id },
  ]);
  assert.deepEqual(backlog.message(), {
    type: 'batch',
    coalesced: true,
    events: [{ type: 'flow-evicted', id: known.id }],
  });
});

test('a clear forgets what came before it and is delivered first', () => {
  const before = summary('https://before.test/');
  const after = summary('https://after.test/');
  const backlog = new Backlog(BIG);
  backlog.add([{ type: 'flow', flow: before }, { type: 'cleared' }, { type: 'flow', flow: after }]);
  const message = backlog.message();
  assert.ok(message?.type === 'batch', 'a batch');
  assert.deepEqual(message.events, [{ type: 'cleared' }, { type: 'flow', flow: after }]);
});

test('TLS events are dropped and counted', () => {
  const backlog = new Backlog(BIG);
  const tls: LiveEvent = { type: 'tls', connectionId: 'c', event: { t: 0, from: 'client', type: 'ClientHello', details: {} } };
  backlog.add([tls, tls, tls]);
  assert.deepEqual(backlog.message(), { type: 'batch', coalesced: true, events: [], droppedTls: 3 });
});

test('an empty backlog has no message', () => {
  assert.equal(new Backlog(BIG).message(), null);
});

test('past its byte budget a backlog asks for a snapshot and holds nothing', () => {
  const flows = Array.from({ length: 10 }, (_, i) => summary(`https://x.test/${i}`));
  const budget = summaryBytes(flows[0]!) * 5;
  const backlog = new Backlog(budget);
  backlog.add(flows.slice(0, 5).map((flow) => ({ type: 'flow', flow })));
  assert.equal(backlog.needsSnapshot, false);
  backlog.add(flows.slice(5).map((flow) => ({ type: 'flow', flow })));
  assert.equal(backlog.needsSnapshot, true);
  assert.equal(backlog.message(), null);
});

test('updating a flow many times does not grow the budget', () => {
  const flow = summary('https://same.test/');
  const backlog = new Backlog(summaryBytes(flow) * 2);
  backlog.add(Array.from({ length: 1000 }, (_, i) => ({ type: 'flow-update' as const, flow: updated(flow, 100 + i) })));
  assert.equal(backlog.needsSnapshot, false);
  const message = backlog.message();
  assert.ok(message?.type === 'batch', 'a batch');
  assert.equal(message.events.length, 1);
});

test('only the latest relayed WebSocket message per flow is kept, and none for an evicted flow', () => {
  const chat = summary('wss://chat.test/');
  const gone = summary('wss://gone.test/');
  const message = (index: number, data: string): LiveEvent => ({
    type: 'ws-message',
    flowId: chat.id,
    index,
    message: { type: 'receive', time: 1, opcode: 1, size: data.length, data, truncated: false },
  });
  const backlog = new Backlog(BIG);
  backlog.add([
    { type: 'flow-update', flow: gone },
    { ...(message(0, 'x') as Extract<LiveEvent, { type: 'ws-message' }>), flowId: gone.id },
    message(0, 'hello'),
    message(1, 'world'),
    { type: 'flow-evicted', id: gone.id },
  ]);
  assert.deepEqual(backlog.message(), {
    type: 'batch',
    coalesced: true,
    events: [{ type: 'flow-evicted', id: gone.id }, message(1, 'world')],
  });
});
