import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowList } from '../../ui/src/flows.js';
import type { FlowSummary } from '../../ui/src/types.js';

function summary(id: string, over: Partial<FlowSummary> = {}): FlowSummary {
  return {
    id,
    kind: 'http',
    state: 'complete',
    method: 'GET',
    url: `https://api.example.com/${id}`,
    scheme: 'https',
    host: 'api.example.com',
    status: 200,
    contentType: 'application/json',
    requestSize: 0,
    responseSize: 10,
    startedAt: 0,
    duration: 5,
    tlsVersion: 'TLSv1.3',
    tlsLeg: 'server',
    error: null,
    imported: false,
    paused: null,
    replayOf: null,
    ...over,
  };
}

const ids = (list: FlowList) => list.rows.map((f) => f.id);

describe('the page flow list', () => {
  it('applies queued events in one flush and counts them', () => {
    const list = new FlowList();
    const seen: number[] = [];
    list.onChange((c) => seen.push(c.changed.size));
    list.push([{ type: 'flow', flow: summary('a') }, { type: 'flow', flow: summary('b') }]);
    assert.deepEqual(ids(list), []);
    list.flush();
    assert.deepEqual(ids(list), ['a', 'b']);
    assert.equal(list.total.value, 2);
    assert.deepEqual(seen, [2]);
  });

  it('treats flow and flow-update as upserts, updating the shown object in place', () => {
    const list = new FlowList();
    list.snapshot([summary('a', { state: 'pending', status: null })]);
    const before = list.rows[0];
    list.push([{ type: 'flow-update', flow: summary('a', { status: 204 }) }, { type: 'flow', flow: summary('a', { status: 205 }) }]);
    list.flush();
    assert.equal(list.rows.length, 1);
    assert.equal(list.rows[0], before);
    assert.equal(list.rows[0]!.status, 205);
  });

  it('keeps the filtered view right as flows arrive and change', () => {
    const list = new FlowList();
    list.setFilter('status:>=400');
    list.push([{ type: 'flow', flow: summary('ok') }, { type: 'flow', flow: summary('bad', { status: 500 }) }, { type: 'flow', flow: summary('later', { status: null, state: 'pending' }) }]);
    list.flush();
    assert.deepEqual(ids(list), ['bad']);
    assert.equal(list.matched.value, 1);
    list.push([{ type: 'flow-update', flow: summary('later', { status: 404 }) }]);
    list.flush();
    assert.deepEqual(ids(list), ['bad', 'later']);
    list.setFilter('');
    assert.deepEqual(ids(list), ['ok', 'bad', 'later']);
  });

  it('drops evicted flows and empties on cleared', () => {
    const list = new FlowList();
    list.snapshot(['a', 'b', 'c', 'd'].map((id) => summary(id)));
    list.push([{ type: 'flow-evicted', id: 'a' }, { type: 'flow-evicted', id: 'c' }, { type: 'flow', flow: summary('e') }]);
    list.flush();
    assert.deepEqual(ids(list), ['b', 'd', 'e']);
    list.push([{ type: 'cleared' }, { type: 'flow', flow: summary('f') }]);
    list.flush();
    assert.deepEqual(ids(list), ['f']);
  });

  it('holds everything while paused and applies it on resume', () => {
    const list = new FlowList();
    list.snapshot([summary('a')]);
    list.pause();
    list.push([{ type: 'flow', flow: summary('b') }, { type: 'flow', flow: summary('c') }]);
    list.flush();
    assert.deepEqual(ids(list), ['a']);
    assert.equal(list.held.value, 2);
    list.resume();
    assert.deepEqual(ids(list), ['a', 'b', 'c']);
    assert.equal(list.held.value, 0);
  });

  it('puts older pages before the snapshot, skipping flows it already has', () => {
    const list = new FlowList();
    list.snapshot([summary('c'), summary('d')]);
    list.prependOlder([summary('a'), summary('b'), summary('c')]);
    assert.deepEqual(ids(list), ['a', 'b', 'c', 'd']);
  });

  it('reports TLS events and WebSocket messages to whoever shows that flow', () => {
    const list = new FlowList();
    let last = { changed: new Set<string>(), tlsConnections: new Set<string>(), everything: false };
    list.onChange((c) => (last = c));
    list.push([
      { type: 'tls', connectionId: 'conn-1', event: { t: 1, from: 'client', type: 'ClientHello', details: {} } },
      { type: 'ws-message', flowId: 'ws-flow', index: 0, message: { type: 'send', time: 1, opcode: 1, size: 2, data: 'hi', truncated: false } },
    ]);
    list.flush();
    assert.deepEqual([...last.tlsConnections], ['conn-1']);
    assert.deepEqual([...last.changed], ['ws-flow']);
    list.markTlsDropped();
    list.flush();
    assert.equal(last.everything, true);
  });

  it('applies queued events by itself without animation frames', async () => {
    const list = new FlowList();
    list.push([{ type: 'flow', flow: summary('a') }]);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(ids(list), ['a']);
  });
});
