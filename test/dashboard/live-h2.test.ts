/**
 * HTTP/2 frames reach the dashboard's live feed while the connection is open: a Node h2 client
 * through the proxy's CONNECT tunnel to a Node h2 server, and a websocket client of a real
 * dashboard over the proxy's store.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { WebSocket } from 'ws';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { startProxyTrusting, type TestProxy } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import type { Http2Event } from '../../src/capture/flow.js';
import type { H2FramesEvent } from '../../src/capture/store.js';
import type { LiveMessage, LiveOptions } from '../../src/dashboard/live.js';
import { startDashboard, type Dashboard } from '../../src/dashboard/server.js';
import { makeFlow, TOKEN } from './harness.js';
import { drain, rawUpgrade } from './raw-ws.js';
import { h2Request, h2ThroughProxy, startH2Server, type H2Server } from '../proxy/h2/helpers.js';

function dashboardFor(proxy: TestProxy, live: Partial<LiveOptions> = {}): Promise<Dashboard> {
  return startDashboard({
    store: proxy.store,
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    uiHosts: [],
    caFiles: { pem: '/nonexistent', cer: '/nonexistent', p12: '/nonexistent' },
    uiDir: '/nonexistent',
    live,
  });
}

/** A dashboard tab's view of the frames: every `h2-frames` event, per connection, applied in order. */
class FramesInbox {
  readonly updates: H2FramesEvent[] = [];
  /** Listed events per connection, from index `starts` on. */
  readonly events = new Map<string, Http2Event[]>();
  readonly starts = new Map<string, number>();
  private waiter: (() => void) | null = null;

  constructor(ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as LiveMessage;
      if (message.type !== 'batch') return;
      const inBatch = new Set<string>();
      for (const e of message.events) {
        if (e.type !== 'h2-frames') continue;
        assert.ok(!inBatch.has(e.connectionId), 'one update per connection per batch');
        inBatch.add(e.connectionId);
        this.updates.push(e);
        // A connection older than this client starts where the client joined it.
        const start = this.starts.get(e.connectionId) ?? e.first;
        this.starts.set(e.connectionId, start);
        const list = this.events.get(e.connectionId) ?? [];
        assert.ok(e.first <= start + list.length, `events ${start + list.length}..${e.first} of ${e.connectionId} were skipped`);
        list.push(...e.events.slice(start + list.length - e.first));
        this.events.set(e.connectionId, list);
      }
      this.waiter?.();
    });
  }

  /** Waits for the next message until `done` holds (no timer: the test's timeout bounds it). */
  async until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  has(connectionId: string, pick: (e: Http2Event) => boolean): boolean {
    return (this.events.get(connectionId) ?? []).some(pick);
  }
}

function ping(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
}

/** Polls a condition the store reaches on its own timer (the connection rewrite, every second at most). */
async function waitFor(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function liveClient(t: { after(fn: () => unknown): void }, dash: Dashboard): Promise<FramesInbox> {
  const ws = new WebSocket(`ws://localhost:${dash.port}/api/live?token=${TOKEN}`);
  t.after(() => ws.terminate());
  const inbox = new FramesInbox(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return inbox;
}

describe('HTTP/2 frames on the live feed', () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let proxy: TestProxy;
  let server: H2Server;
  /** Streams the server holds open until the test lets them finish. */
  const held: ServerHttp2Stream[] = [];
  const serverSessions: ServerHttp2Session[] = [];

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem);
    server = await startH2Server(pair);
    server.server.on('session', (s) => serverSessions.push(s));
    server.server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      const path = String(headers[':path']);
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      if (path.startsWith('/hold')) {
        stream.write('first part;');
        held.push(stream);
      } else if (path.startsWith('/chunks')) {
        for (let i = 0; i < 20; i++) stream.write(`chunk ${i};`);
        stream.end();
      } else {
        stream.end(`hello ${path}`);
      }
    });
  });
  after(async () => {
    await server.close();
    await proxy.cleanup();
  });

  test('a dashboard client sees both legs\' frames while the connection is open, and its GOAWAY after', async (t) => {
    const dash = await dashboardFor(proxy);
    t.after(() => dash.close());
    const inbox = await liveClient(t, dash);
    const authority = `localhost:${server.port}`;
    const session = await h2ThroughProxy(proxy, authority);
    t.after(() => session.destroy());

    // A response still being served: its first DATA shows before it ends.
    const req = session.request({ ':path': '/hold/1' });
    req.on('error', () => {});
    req.setEncoding('utf8');
    let got = '';
    req.on('data', (d: string) => (got += d));
    await new Promise<void>((resolve) => req.once('data', () => resolve()));
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/hold/1') && f.serverConnection !== null && (f.http2?.length ?? 0) === 2);
    const clientId = flow.clientConnection!.id;
    const serverId = flow.serverConnection!.id;
    const clientStream = flow.http2!.find((s) => s.leg === 'client')!;
    const serverStream = flow.http2!.find((s) => s.leg === 'server')!;

    const timing = (connectionId: string, streamId: number, who: 'proxy' | 'server') =>
      inbox.updates.some((u) => u.connectionId === connectionId && u.timings.some((s) => s.streamId === streamId && (s.sides[who]?.dataFrames ?? 0) > 0 && s.sides[who]?.end === null));
    await inbox.until(
      () =>
        inbox.has(clientId, (e) => e.type === 'Preface' && e.from === 'client') &&
        inbox.has(clientId, (e) => e.type === 'SETTINGS' && e.from === 'client') &&
        inbox.has(clientId, (e) => e.type === 'SETTINGS' && e.from === 'proxy' && e.details['ack'] === true) &&
        inbox.has(serverId, (e) => e.type === 'SETTINGS' && e.from === 'server') &&
        inbox.has(serverId, (e) => e.type === 'Preface' && e.from === 'proxy') &&
        // HEADERS and the first DATA of the open stream, on both legs, before it ended.
        timing(clientId, clientStream.streamId, 'proxy') &&
        timing(serverId, serverStream.streamId, 'server'),
    );
    assert.equal(got, 'first part;');
    const clientUpdate = inbox.updates.find((u) => u.connectionId === clientId)!;
    assert.equal(clientUpdate.leg, 'client');
    assert.equal(inbox.updates.find((u) => u.connectionId === serverId)!.leg, 'server');
    const headersSeen = inbox.updates.some((u) => u.timings.some((s) => s.streamId === clientStream.streamId && (s.sides.client?.headers.length ?? 0) === 1));
    assert.ok(headersSeen, 'the request HEADERS timing was pushed');

    // A PING the client sends, and the proxy's ACK, while the connection is open.
    await new Promise<void>((resolve, reject) => session.ping(Buffer.from('live-pg!'), (err) => (err ? reject(err) : resolve())));
    const pingData = Buffer.from('live-pg!').toString('hex');
    await inbox.until(() => inbox.has(clientId, (e) => e.type === 'PING' && e.from === 'client' && e.details['data'] === pingData) && inbox.has(clientId, (e) => e.type === 'PING' && e.from === 'proxy' && e.details['ack'] === true));
    // One from the server on the upstream session.
    const upstream = serverSessions.at(-1)!;
    await new Promise<void>((resolve, reject) => upstream.ping(Buffer.from('from-srv'), (err) => (err ? reject(err) : resolve())));
    await inbox.until(() => inbox.has(serverId, (e) => e.type === 'PING' && e.from === 'server' && e.details['data'] === Buffer.from('from-srv').toString('hex')));

    // The stream ends: its END_STREAM timing follows.
    held.shift()!.end('last part');
    await new Promise<void>((resolve) => req.once('close', () => resolve()));
    assert.equal(got, 'first part;last part');
    await inbox.until(() => inbox.updates.some((u) => u.connectionId === clientId && u.timings.some((s) => s.streamId === clientStream.streamId && s.sides.proxy?.end !== null && s.sides.proxy?.end !== undefined)));

    // Closing the client session: its GOAWAY arrives without anyone fetching the flow.
    await new Promise<void>((resolve) => session.close(() => resolve()));
    await inbox.until(() => inbox.has(clientId, (e) => e.type === 'GOAWAY' && e.from === 'client'));

    // What the feed delivered is what the store holds, in the same order.
    const stored = proxy.store.get(flow.id)!;
    assert.deepEqual(inbox.events.get(clientId), stored.clientConnection!.http2!.events);
    // A busy chunk of frames is one message per connection per batch, not one per frame.
    const perConnection = inbox.updates.filter((u) => u.connectionId === clientId).length;
    t.diagnostic(`client leg: ${stored.clientConnection!.http2!.events.length} listed events in ${perConnection} live updates`);
  });

  test('many streams and PINGs on one connection arrive as one update per connection per batch', async (t) => {
    const dash = await dashboardFor(proxy);
    t.after(() => dash.close());
    const inbox = await liveClient(t, dash);
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.destroy());
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => h2Request(session, { ':path': `/chunks/${i}` })));
    assert.ok(results.every((r) => r.status === 200 && r.body.includes('chunk 19;')));
    // Node allows 10 outstanding PINGs: one at a time.
    for (let i = 0; i < 30; i++) await ping(session);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/chunks/39') && f.state === 'complete');
    const clientId = flow.clientConnection!.id;
    await inbox.until(() => (inbox.events.get(clientId) ?? []).filter((e) => e.type === 'PING' && e.from === 'proxy').length === 30);
    const updates = inbox.updates.filter((u) => u.connectionId === clientId);
    const frames = updates.reduce((n, u) => n + u.events.length, 0);
    const dataFrames = updates.flatMap((u) => u.timings).reduce((n, s) => Math.max(n, s.sides.proxy?.dataFrames ?? 0), 0);
    t.diagnostic(`${frames} listed events and DATA on 40 streams in ${updates.length} updates`);
    assert.ok(dataFrames > 1, 'DATA frames were counted');
    // (The inbox asserts at most one update per connection in each batch.) Merged, nothing is lost:
    assert.equal(inbox.events.get(clientId)!.length, proxy.store.get(flow.id)!.clientConnection!.http2!.events.length);
  });

  test('frames after the connection\'s last flow finished reach the session too, not only the feed', async (t) => {
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.destroy());
    const r = await h2Request(session, { ':path': '/stored/1' });
    assert.equal(r.status, 200);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/stored/1') && f.state === 'complete');
    await proxy.store.flushed();
    await ping(session);
    await new Promise<void>((resolve) => session.close(() => resolve()));
    const events = () => proxy.store.get(flow.id)!.clientConnection!.http2!.events;
    await waitFor(() => events().some((e) => e.type === 'GOAWAY' && e.from === 'client'), 'the GOAWAY to be read');
    // The session's copy (read back through `list`, not the object in memory) catches up on its own.
    const storedEvents = () => proxy.store.list().find((f) => f.id === flow.id)!.clientConnection!.http2!.events;
    await waitFor(() => storedEvents() !== events() && storedEvents().length === events().length, 'the session to hold the PING and GOAWAY');
    const want = events();
    assert.deepEqual(storedEvents(), want);
    assert.ok(want.some((e) => e.type === 'PING' && e.from === 'client') && want.some((e) => e.type === 'GOAWAY' && e.from === 'client'));
  });

  test('a dashboard client that stops reading is owed one update per connection, not every frame', async (t) => {
    // Coalescing starts once 64 KiB are unsent; a large budget keeps the flows from forcing a resync.
    const dash = await dashboardFor(proxy, { softLimitBytes: 64 * 1024, lowWaterBytes: 16 * 1024, maxCoalescedBytes: 64 * 1024 * 1024 });
    t.after(() => dash.close());
    const raw = await rawUpgrade(dash.port, `/api/live?token=${TOKEN}`, {});
    t.after(() => raw.socket.destroy());
    // Fill the socket's buffers with flows the client never reads.
    const pad = 'p'.repeat(2000);
    for (let i = 0; i < 4000; i += 200) {
      for (let j = 0; j < 200; j++) proxy.store.add(makeFlow({ url: `https://fill.test/${i + j}?${pad}` }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.destroy());
    await Promise.all(Array.from({ length: 30 }, (_, i) => h2Request(session, { ':path': `/chunks/slow-${i}` })));
    for (let i = 0; i < 50; i++) await ping(session);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/chunks/slow-29') && f.state === 'complete');
    const clientId = flow.clientConnection!.id;
    // The store's own copy: the one `flowWhere` read back from the session may predate the PINGs.
    const listed = proxy.store.get(flow.id)!.clientConnection!.http2!.events.length;

    const got = await drain(raw, 1000);
    assert.equal(got.ended, false, 'the client was not closed');
    const coalesced = got.messages.filter((m): m is Extract<LiveMessage, { type: 'batch' }> => m.type === 'batch' && m.coalesced === true);
    assert.ok(coalesced.length > 0, 'the client fell behind and was coalesced');
    const owed = coalesced.flatMap((m) => m.events).filter((e): e is H2FramesEvent => e.type === 'h2-frames' && e.connectionId === clientId);
    assert.equal(owed.length, 1, 'one coalesced update for the connection');
    assert.deepEqual(owed[0]!.events, [], 'the listed events are left for the flow fetch');
    assert.equal(owed[0]!.first, listed, 'its `first` says how many there are');
    assert.ok(owed[0]!.timings.length <= 30, 'timings of the streams that changed, each once');
    const perFrame = got.messages.flatMap((m) => (m.type === 'batch' ? m.events : [])).filter((e) => e.type === 'h2-frames' && e.connectionId === clientId).length;
    t.diagnostic(`${listed} listed events on the connection; the stalled client got ${perFrame} h2-frames events, ${(got.bytes / 1024 / 1024).toFixed(1)} MiB in all`);
  });
});
