import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { FlowStore } from '../../src/capture/store.js';
import type { LiveEvent, LiveMessage } from '../../src/dashboard/live.js';
import { makeFlow, request, startHarness, TOKEN, type Harness } from './harness.js';
import { drain, rawUpgrade, replay } from './raw-ws.js';

/** Collects a websocket's messages and lets a test await the next ones. */
class Inbox {
  readonly messages: LiveMessage[] = [];
  private waiter: (() => void) | null = null;
  constructor(ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as LiveMessage);
      this.waiter?.();
    });
  }

  async until(done: (messages: LiveMessage[]) => boolean, timeoutMs = 5000): Promise<LiveMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.messages)) {
      if (Date.now() > deadline) throw new Error(`timed out with ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.messages;
  }

  events(): LiveEvent[] {
    return this.messages.flatMap((m) => (m.type === 'batch' ? m.events : []));
  }
}

async function connect(t: { after(fn: () => unknown): void }, h: Harness, options: { query?: string; headers?: Record<string, string>; autoPong?: boolean } = {}): Promise<{ ws: WebSocket; inbox: Inbox }> {
  const ws = new WebSocket(`ws://localhost:${h.port}/api/live${options.query ?? `?token=${TOKEN}`}`, { headers: options.headers ?? {}, autoPong: options.autoPong ?? true });
  t.after(() => ws.terminate());
  const inbox = new Inbox(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, inbox };
}

/** Status of an upgrade request with exactly these headers: `101`, or the refusal's status and error code. */
function upgradeStatus(port: number, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      headers: { host: `localhost:${port}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(String(res.statusCode));
    });
    req.on('response', (res) => {
      res.resume();
      resolve(`${res.statusCode} ${String(res.headers['x-mitmscope-error'])}`);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A store that counts its live subscriptions, to see the feed subscribe and let go. */
function countedStore(): { store: FlowStore; subscribed: () => number } {
  const store = new FlowStore();
  let count = 0;
  const subscribe = store.subscribe.bind(store);
  store.subscribe = (listener) => {
    count++;
    const off = subscribe(listener);
    return () => {
      count--;
      off();
    };
  };
  return { store, subscribed: () => count };
}

test('the live feed refuses upgrades without the token (401), with a foreign Host or Origin (403) and on other paths (404)', async (t) => {
  const h = await startHarness(t);
  const live = `/api/live?token=${TOKEN}`;
  assert.equal(await upgradeStatus(h.port, '/api/live', {}), '401 MITM_ERR_AUTH_TOKEN');
  assert.equal(await upgradeStatus(h.port, '/api/live?token=wrong', {}), '401 MITM_ERR_AUTH_TOKEN');
  assert.equal(await upgradeStatus(h.port, live, { host: 'evil.example' }), '403 MITM_ERR_AUTH_HOST');
  assert.equal(await upgradeStatus(h.port, live, { host: `rebound.example:${h.port}` }), '403 MITM_ERR_AUTH_HOST');
  assert.equal(await upgradeStatus(h.port, live, { origin: 'http://evil.example' }), '403 MITM_ERR_AUTH_ORIGIN');
  assert.equal(await upgradeStatus(h.port, live, { origin: `http://localhost:${h.port + 1}` }), '403 MITM_ERR_AUTH_ORIGIN');
  assert.equal(await upgradeStatus(h.port, live, { origin: 'null' }), '403 MITM_ERR_AUTH_ORIGIN');
  assert.equal(await upgradeStatus(h.port, `/api/other?token=${TOKEN}`, {}), '404 MITM_ERR_NOT_FOUND');
  assert.equal(await upgradeStatus(h.port, live, { origin: `http://localhost:${h.port}` }), '101');
});

test('the live feed accepts the token as a query parameter, a bearer header or the cookie', async (t) => {
  const h = await startHarness(t);
  const cookie = (await request(h.port, { path: `/?token=${TOKEN}`, auth: false })).headers['set-cookie']![0]!.split(';')[0]!;
  assert.equal(await upgradeStatus(h.port, `/api/live?token=${TOKEN}`, {}), '101');
  assert.equal(await upgradeStatus(h.port, '/api/live', { authorization: `Bearer ${TOKEN}` }), '101');
  assert.equal(await upgradeStatus(h.port, '/api/live', { cookie }), '101');
});

test('a new client first gets a snapshot, then every store event in order', async (t) => {
  const h = await startHarness(t);
  const a = makeFlow({ url: 'https://a.test/' });
  const b = makeFlow({ url: 'https://b.test/', status: 200 });
  h.store.add(a);
  h.store.add(b);
  const { inbox } = await connect(t, h);
  const [first] = await inbox.until((m) => m.length >= 1);
  assert.equal(first!.type, 'snapshot');
  assert.ok(first!.type === 'snapshot', 'snapshot first');
  assert.deepEqual(first.flows.map((f) => f.url), ['https://a.test/', 'https://b.test/']);
  assert.equal(first.total, 2);

  const c = makeFlow({ url: 'https://c.test/' });
  h.store.add(c);
  a.state = 'complete';
  a.response = makeFlow({ status: 204 }).response;
  h.store.update(a);
  h.store.tlsEvent('conn-1', { t: 1.5, from: 'client', type: 'ClientHello', details: {} });
  h.store.clear();
  await inbox.until(() => inbox.events().length >= 4);
  const events = inbox.events();
  assert.deepEqual(
    events.map((e) => [e.type, 'flow' in e ? e.flow.url : null]),
    [
      ['flow', 'https://c.test/'],
      ['flow-update', 'https://a.test/'],
      ['tls', null],
      ['cleared', null],
    ],
  );
  const update = events[1]!;
  assert.ok(update.type === 'flow-update', 'a flow-update');
  assert.equal(update.flow.status, 204);
  assert.equal(update.flow.state, 'complete');
  assert.deepEqual(events[2], { type: 'tls', connectionId: 'conn-1', event: { t: 1.5, from: 'client', type: 'ClientHello', details: {} } });
});

test('the snapshot holds only the newest flows and says how many there are', async (t) => {
  const h = await startHarness(t, { live: { snapshotMaxFlows: 3 } });
  const flows = Array.from({ length: 5 }, (_, i) => makeFlow({ url: `https://x.test/${i}` }));
  for (const f of flows) h.store.add(f);
  const { inbox } = await connect(t, h);
  const [snapshot] = await inbox.until((m) => m.length >= 1);
  assert.ok(snapshot!.type === 'snapshot', 'snapshot first');
  assert.deepEqual(snapshot.flows.map((f) => f.url), ['https://x.test/2', 'https://x.test/3', 'https://x.test/4']);
  assert.equal(snapshot.total, 5);
});

test('the snapshot also stops at its byte budget, keeping the newest flows', async (t) => {
  const h = await startHarness(t, { live: { snapshotMaxBytes: 5000 } });
  const pad = 'p'.repeat(1000);
  for (let i = 0; i < 4; i++) h.store.add(makeFlow({ url: `https://x.test/${i}?${pad}` }));
  const { inbox } = await connect(t, h);
  const [snapshot] = await inbox.until((m) => m.length >= 1);
  assert.ok(snapshot!.type === 'snapshot', 'snapshot first');
  assert.deepEqual(snapshot.flows.map((f) => f.url.slice(0, 16)), ['https://x.test/2', 'https://x.test/3']);
  assert.equal(snapshot.total, 4);
});

test('an event JSON cannot encode is dropped and the feed goes on', async (t) => {
  const h = await startHarness(t);
  const { inbox } = await connect(t, h);
  await inbox.until((m) => m.length >= 1);
  h.store.tlsEvent('conn-1', { t: 0, from: 'server', type: 'ServerHello', details: { huge: 1n } });
  const flow = makeFlow({ url: 'https://after.test/' });
  h.store.add(flow);
  await inbox.until(() => inbox.events().length >= 1);
  assert.deepEqual(inbox.events().map((e) => e.type), ['flow']);
});

test('a burst of events arrives batched, at most 500 a message, in order', async (t) => {
  const h = await startHarness(t);
  const { inbox } = await connect(t, h);
  await inbox.until((m) => m.length >= 1);
  const flows = Array.from({ length: 1200 }, (_, i) => makeFlow({ url: `https://burst.test/${i}` }));
  for (const f of flows) h.store.add(f);
  await inbox.until(() => inbox.events().length >= 1200);
  const batches = inbox.messages.slice(1);
  assert.ok(batches.every((m) => m.type === 'batch' && m.events.length <= 500), `batch sizes ${batches.map((m) => (m.type === 'batch' ? m.events.length : m.type)).join(',')}`);
  assert.ok(batches.length <= 4, `${batches.length} messages`);
  assert.deepEqual(
    inbox.events().map((e) => (e.type === 'flow' ? e.flow.id : e.type)),
    flows.map((f) => f.id),
  );
});

test('a client that stops answering pings is terminated, one that answers stays', async (t) => {
  const h = await startHarness(t, { live: { heartbeatMs: 40 } });
  const silent = await connect(t, h, { autoPong: false });
  const healthy = await connect(t, h);
  const closed = new Promise<number>((resolve) => silent.ws.once('close', (code) => resolve(code)));
  // Terminated without a close frame: 1006 on the client side.
  assert.equal(await Promise.race([closed, sleep(3000, 'still open')]), 1006);
  await sleep(200);
  assert.equal(healthy.ws.readyState, WebSocket.OPEN);
});

test('close() ends live clients with 1001, unsubscribes from the store and refuses new connections', async (t) => {
  const { store, subscribed } = countedStore();
  const h = await startHarness(t, { store });
  const one = await connect(t, h);
  const two = await connect(t, h);
  assert.equal(subscribed(), 1, 'one subscription shared by all clients');
  const codes = Promise.all([one, two].map(({ ws }) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))));
  await h.dash.close();
  assert.deepEqual(await codes, [1001, 1001]);
  assert.equal(subscribed(), 0);
  await assert.rejects(fetch(`${h.base}/api/status`));
});

test('the store subscription is dropped when the last client leaves', async (t) => {
  const { store, subscribed } = countedStore();
  const h = await startHarness(t, { store });
  const { ws } = await connect(t, h);
  assert.equal(subscribed(), 1);
  ws.close();
  await new Promise((resolve) => ws.once('close', resolve));
  await sleep(50);
  assert.equal(subscribed(), 0);
});

/** Adds and completes `count` flows, yielding between chunks as real traffic would. */
async function addAndComplete(store: FlowStore, count: number, urlPad = ''): Promise<void> {
  const CHUNK = 200;
  for (let i = 0; i < count; i += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, count - i) }, (_, j) => makeFlow({ url: `https://slow.test/${i + j}?${urlPad}` }));
    for (const f of chunk) store.add(f);
    for (const f of chunk) {
      f.state = 'complete';
      f.response = makeFlow({ status: 200 }).response;
      store.update(f);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('a client that falls behind gets the latest summary per flow, coalesced, and ends up with the store’s state', async (t) => {
  const h = await startHarness(t, { live: { closeGraceMs: 100, softLimitBytes: 64 * 1024, lowWaterBytes: 16 * 1024, maxCoalescedBytes: 64 * 1024 * 1024 } });
  const client = await rawUpgrade(h.port, `/api/live?token=${TOKEN}`, {});
  t.after(() => client.socket.destroy());
  assert.equal(client.status, 101);
  await addAndComplete(h.store, 3000, 'p'.repeat(1000));
  const got = await drain(client, 300);
  const coalesced = got.messages.filter((m) => m.type === 'batch' && m.coalesced);
  assert.ok(coalesced.length >= 1, 'at least one coalesced batch');
  for (const m of coalesced) {
    assert.ok(m.type === 'batch', 'a batch');
    const ids = m.events.map((e) => ('flow' in e ? e.flow.id : e.type));
    assert.equal(new Set(ids).size, ids.length, 'one entry per flow');
  }
  const state = replay(got.messages);
  assert.equal(state.size, 3000);
  assert.ok([...state.values()].every((f) => f.state === 'complete' && f.status === 200), 'every flow complete with its status');
});

test('a client whose backlog overflows the coalescing budget gets a fresh snapshot instead', async (t) => {
  const h = await startHarness(t, { live: { closeGraceMs: 100, softLimitBytes: 64 * 1024, lowWaterBytes: 16 * 1024, maxCoalescedBytes: 32 * 1024, snapshotMaxBytes: 64 * 1024 * 1024 } });
  const client = await rawUpgrade(h.port, `/api/live?token=${TOKEN}`, {});
  t.after(() => client.socket.destroy());
  await addAndComplete(h.store, 3000, 'p'.repeat(1000));
  const got = await drain(client, 300);
  const resyncs = got.messages.filter((m) => m.type === 'snapshot' && m.resync);
  assert.ok(resyncs.length >= 1, 'a resync snapshot');
  const state = replay(got.messages);
  assert.equal(state.size, 3000);
  assert.ok([...state.values()].every((f) => f.state === 'complete'), 'every flow complete');
});

test('a client whose unsent bytes pass the hard limit is disconnected', async (t) => {
  const h = await startHarness(t, { live: { softLimitBytes: 32 * 1024, lowWaterBytes: 8 * 1024, hardLimitBytes: 128 * 1024, closeGraceMs: 100 } });
  const client = await rawUpgrade(h.port, `/api/live?token=${TOKEN}`, {});
  t.after(() => client.socket.destroy());
  await addAndComplete(h.store, 3000, 'p'.repeat(1000));
  await sleep(300);
  const got = await drain(client, 300);
  assert.ok(got.ended, 'the server ended the connection');
  // Everything sent was less than the events produced: the rest was never buffered.
  assert.ok(got.bytes < 6000 * 1000, `${got.bytes} bytes`);
});
