import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowStore, flowSize, type StoreEvent } from '../../src/capture/store.js';
import { createFlow, emptyRequest, type Flow } from '../../src/capture/flow.js';

function flow(bodyBytes: number, state: Flow['state'] = 'complete'): Flow {
  const f = createFlow({ kind: 'http', scheme: 'https', host: 'h.test', port: 443, request: emptyRequest('GET', 'https://h.test/'), clientConnection: null });
  f.request.body = Buffer.alloc(bodyBytes);
  f.state = state;
  return f;
}

function collect(store: FlowStore): { events: StoreEvent[]; settled: () => Promise<void> } {
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return { events, settled: () => new Promise((resolve) => setImmediate(resolve)) };
}

test('the store evicts the oldest complete flows past its byte budget and announces each eviction', async () => {
  const one = flowSize(flow(10_000));
  const store = new FlowStore({ maxBytes: one * 3 });
  const { events, settled } = collect(store);
  const flows = Array.from({ length: 5 }, () => flow(10_000));
  for (const f of flows) store.add(f);
  await settled();
  assert.deepEqual(store.list().map((f) => f.id), flows.slice(2).map((f) => f.id));
  assert.deepEqual(events.filter((e) => e.type === 'flow-evicted').map((e) => (e as { id: string }).id), flows.slice(0, 2).map((f) => f.id));
  assert.ok(store.bytes <= store.maxBytes);
});

test('pending flows are never evicted; they become evictable once they finish', async () => {
  const one = flowSize(flow(10_000));
  const store = new FlowStore({ maxBytes: one * 2 });
  const pending = flow(10_000, 'pending');
  store.add(pending);
  for (let i = 0; i < 4; i++) store.add(flow(10_000));
  assert.ok(store.get(pending.id), 'the pending flow stays');
  pending.state = 'complete';
  store.update(pending);
  for (let i = 0; i < 3; i++) store.add(flow(10_000));
  assert.equal(store.get(pending.id), undefined, 'evicted once complete and oldest');
});

test('events are delivered asynchronously, in order, and only summaries are handed out', async () => {
  const store = new FlowStore();
  const { events, settled } = collect(store);
  const f = flow(10, 'pending');
  store.add(f);
  assert.equal(events.length, 0, 'nothing is delivered synchronously');
  f.state = 'complete';
  store.update(f);
  await settled();
  assert.deepEqual(events.map((e) => e.type), ['flow', 'flow-update']);
  const first = events[0] as { flow: { state: string } };
  assert.equal(first.flow.state, 'pending', 'each event is a snapshot of its moment');
});

test('headers and bodies count toward a flow’s size', () => {
  const bare = flow(0);
  const heavy = flow(5000);
  heavy.request.headers = [['X-A', 'a'.repeat(100)]];
  assert.ok(flowSize(heavy) >= flowSize(bare) + 5000 + 100);
});
