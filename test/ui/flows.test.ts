/**
 * The page's window over the flow list (ui/src/flows.ts): live events applied in batches, and
 * windows fetched from a real dashboard over a session on disk as the view moves (by anchor, by
 * position, filtered and sorted by the server), with a notice when a page cannot be loaded.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { FlowList, MAX_WINDOW } from '../../ui/src/flows.js';
import { notices } from '../../ui/src/state.js';
import { readWindow, windowUrl, type PageSource } from '../../ui/src/window-api.js';
import type { FlowSummary } from '../../ui/src/types.js';
import { makeFlow, startHarness, TOKEN, type Harness } from '../dashboard/harness.js';
import { tempSessionStore } from '../helpers/flows.js';

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

const ids = (list: FlowList) => list.loaded.rows.map((f) => f.id);

/** Resolves once `cond` holds after a change of the list (or of `notices`), or at once. */
function until(list: FlowList | typeof notices, cond: () => boolean, what: string): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let off = (): void => undefined;
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}`));
    }, 20_000);
    off = ('version' in list ? list.version : list).subscribe(() => {
      if (!cond()) return;
      clearTimeout(timer);
      queueMicrotask(() => off());
      resolve();
    });
  });
}

describe('the page flow list: live events', () => {
  it('applies queued events in one flush and counts them', () => {
    const list = new FlowList();
    const seen: number[] = [];
    list.onChange((c) => seen.push(c.changed.size));
    list.push([{ type: 'flow', flow: summary('a') }, { type: 'flow', flow: summary('b') }]);
    assert.deepEqual(ids(list), []);
    list.flush();
    assert.deepEqual(ids(list), ['a', 'b']);
    assert.equal(list.total.value, 2);
    assert.equal(list.length, 2);
    assert.deepEqual(seen, [2]);
  });

  it('treats flow and flow-update as upserts, updating the shown object in place', () => {
    const list = new FlowList();
    list.snapshot([summary('a', { state: 'pending', status: null })]);
    const before = list.at(0);
    list.push([{ type: 'flow-update', flow: summary('a', { status: 204 }) }, { type: 'flow', flow: summary('a', { status: 205 }) }]);
    list.flush();
    assert.equal(list.length, 1);
    assert.equal(list.at(0), before);
    assert.equal(list.at(0)!.status, 205);
  });

  it('appends new flows only while the window reaches the end of the list', () => {
    const list = new FlowList();
    list.snapshot([summary('x'), summary('y')], 10);
    assert.deepEqual(list.loaded.start, 8);
    list.push([{ type: 'flow', flow: summary('z') }]);
    list.flush();
    assert.deepEqual(ids(list), ['x', 'y', 'z']);
    assert.equal(list.length, 11);
    assert.equal(list.at(10)!.id, 'z');
  });

  it('drops evicted flows, shifts the window for older ones, and empties on cleared', () => {
    const list = new FlowList();
    list.snapshot(['c', 'd', 'e'].map((id) => summary(id)), 5);
    list.push([{ type: 'flow-evicted', id: 'a' }, { type: 'flow-evicted', id: 'd' }, { type: 'flow', flow: summary('f') }]);
    list.flush();
    assert.deepEqual(ids(list), ['c', 'e', 'f']);
    assert.equal(list.length, 4);
    assert.equal(list.at(1)!.id, 'c');
    list.push([{ type: 'cleared' }, { type: 'flow', flow: summary('g') }]);
    list.flush();
    assert.deepEqual(ids(list), ['g']);
    assert.equal(list.length, 1);
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

  it('shows the capture state at once, even while paused', () => {
    const list = new FlowList();
    list.pause();
    list.push([{ type: 'capture', status: { state: 'paused', reason: 'disk full', since: 1, lost: 0, rejected: 0, lastRejected: null } }]);
    assert.equal(list.capture.value?.reason, 'disk full');
    assert.equal(list.held.value, 0);
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
    const applied = new Promise<void>((resolve) => list.onChange(() => resolve()));
    list.push([{ type: 'flow', flow: summary('a') }]);
    await applied;
    assert.deepEqual(ids(list), ['a']);
  });
});

const FLOWS = 3000;
const HOSTS = ['b.test', 'a.test', 'c.test'];

/** A dashboard over a session of FLOWS flows, and a page source that asks it over HTTP as the page does. */
async function served(t: TestContext): Promise<{ h: Harness; source: PageSource; urls: string[] }> {
  const store = await tempSessionStore(t, 'mitmscope-window-');
  const h = await startHarness(t, { store });
  for (let i = 0; i < FLOWS; i++) {
    const flow = makeFlow({ url: `https://x.test/${i}`, status: i % 10 === 0 ? 404 : 200 });
    flow.host = HOSTS[i % HOSTS.length]!;
    store.add(flow);
  }
  await store.flushed();
  const urls: string[] = [];
  const source: PageSource = async (q) => {
    const url = windowUrl(q);
    urls.push(url);
    const res = await fetch(new URL(url, `${h.base}/`), { headers: { authorization: `Bearer ${TOKEN}` } });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    return readWindow(res);
  };
  return { h, source, urls };
}

const path = (f: FlowSummary | undefined) => (f ? new URL(f.url).pathname : null);

describe('the page flow list: windows from the server', () => {
  it('fetches pages by position far back and by anchor next to the window, keeping the window bounded', async (t) => {
    const { h, source, urls } = await served(t);
    const list = new FlowList(source);
    list.snapshot(h.store.newest(1000), h.store.size);
    assert.equal(list.length, FLOWS);
    assert.equal(path(list.at(FLOWS - 1)), `/${FLOWS - 1}`);
    list.ensure(0, 40);
    await until(list, () => list.at(0) !== undefined && list.at(39) !== undefined, 'the oldest rows');
    assert.equal(path(list.at(0)), '/0');
    assert.ok(urls.some((u) => /offset=0\b/.test(u)), 'a jump to the start');
    list.ensure(1500, 1540);
    await until(list, () => list.at(1539) !== undefined, 'the middle');
    assert.equal(path(list.at(1500)), '/1500');
    const { start, rows } = list.loaded;
    list.ensure(start + rows.length + 10, start + rows.length + 50);
    await until(list, () => list.at(start + rows.length + 49) !== undefined, 'the rows after the window');
    assert.ok(urls.at(-1)!.includes('after='), `an anchored page: ${urls.at(-1)}`);
    for (let i = list.loaded.start; i < list.loaded.start + list.loaded.rows.length; i++) assert.equal(path(list.at(i)), `/${i}`);
    for (let at = 0; at < FLOWS; at += 400) list.ensure(at, at + 40);
    await until(list, () => list.at(FLOWS - 1) !== undefined || list.at(2800) !== undefined, 'the last jump');
    assert.ok(list.loaded.rows.length <= MAX_WINDOW);
  });

  it('runs the filter on the server and shows its matched count', async (t) => {
    const { source } = await served(t);
    const list = new FlowList(source);
    list.setFilter('status:404 host:a.test');
    const expected = Array.from({ length: FLOWS }, (_, i) => i).filter((i) => i % 10 === 0 && i % 3 === 1);
    await until(list, () => list.length === expected.length && list.at(expected.length - 1) !== undefined, 'the filtered list');
    assert.equal(list.total.value, FLOWS);
    list.ensure(0, 20);
    await until(list, () => list.at(0) !== undefined, 'the first match');
    assert.equal(path(list.at(0)), `/${expected[0]}`);
    list.setFilter('status:');
    assert.notEqual(list.filterErrors.value.length, 0);
    assert.equal(list.length, expected.length, 'a filter with errors keeps the last good one');
  });

  it('sorts on the server and walks the sorted list', async (t) => {
    const { source } = await served(t);
    const list = new FlowList(source);
    list.setSort({ column: 'host', order: 'desc' });
    await until(list, () => list.at(0) !== undefined && list.length === FLOWS, 'the sorted list');
    // c.test first (i % 3 === 2), newest of them first: ties run in reverse arrival order.
    assert.equal(path(list.at(0)), `/${FLOWS - 1}`);
    assert.equal(list.at(0)!.host, 'c.test');
    list.ensure(FLOWS - 20, FLOWS);
    await until(list, () => list.at(FLOWS - 1) !== undefined, 'the end of the sorted list');
    assert.equal(list.at(FLOWS - 1)!.host, 'a.test');
    assert.equal(path(list.at(FLOWS - 1)), '/1');
  });

  it('says so when a page cannot be loaded, and loads it on Retry', async (t) => {
    const { h, source } = await served(t);
    let failing = true;
    const list = new FlowList((q) => (failing && q.offset !== undefined ? Promise.reject(new Error('502 Bad Gateway')) : source(q)));
    list.snapshot(h.store.newest(100), h.store.size);
    list.ensure(0, 30);
    await until(notices, () => notices.value.some((n) => n.text.includes('Could not load flows 1–30')), 'the notice');
    const notice = notices.value.find((n) => n.text.includes('502 Bad Gateway'))!;
    assert.equal(list.at(0), undefined);
    failing = false;
    notice.action!.run();
    await until(list, () => list.at(0) !== undefined, 'the rows after Retry');
    assert.equal(path(list.at(0)), '/0');
  });
});
