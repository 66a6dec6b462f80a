import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowStore, INTERRUPTED, storeFilter, type StoreEvent } from '../../src/capture/store.js';
import { parseFilter } from '../../src/filter/parse.js';
import { compileFilter } from '../../src/filter/match.js';
import { createFlow, emptyHandshake, emptyRequest, type Connection, type Flow } from '../../src/capture/flow.js';
import { BodyCapture } from '../../src/capture/body-capture.js';
import { fileSegmentIo, type SegmentIo } from '../../src/capture/session/segment-io.js';
import { StoreError } from '../../src/errors.js';
import { keylogLines, parseKeylogLine, rememberKeylog } from '../../src/tls/keylog.js';
import { SORT_COLUMNS, sortIndexSql } from '../../src/capture/session/window-sql.js';
import Database from 'better-sqlite3';

function flow(state: Flow['state'] = 'complete', url = 'https://h.test/'): Flow {
  const f = createFlow({ kind: 'http', scheme: 'https', host: 'h.test', port: 443, request: emptyRequest('GET', url), clientConnection: null });
  f.state = state;
  f.response = { status: 200, statusText: 'OK', httpVersion: '1.1', headers: [['Content-Type', 'text/plain']], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
  return f;
}

/** Streams `body` into the flow's response through the store, as the forwarder does. */
function capture(store: FlowStore, f: Flow, body: Buffer, max = 1 << 30): void {
  const c = new BodyCapture(f.response!, max, store.bodySink(f, 'response'));
  for (let i = 0; i < body.length; i += 16 * 1024) c.push(body.subarray(i, i + 16 * 1024));
  c.finish();
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function collect(store: FlowStore): { events: StoreEvent[]; settled: () => Promise<void> } {
  const events: StoreEvent[] = [];
  store.subscribe((e) => events.push(e));
  return { events, settled: () => new Promise((resolve) => setImmediate(resolve)) };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-session-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function connection(): Connection {
  const tls = emptyHandshake();
  tls.version = 'TLSv1.2';
  tls.events.push({ t: 0, from: 'client', type: 'TCPConnect', details: {} }, { t: 1.5, from: 'client', type: 'ClientHello', details: { sni: 'h.test' } });
  return { id: 'conn-1', side: 'server', address: '127.0.0.1', port: 443, host: 'h.test', openedAt: 1, closedAt: null, tls };
}

// The same behaviour from the memory store (embedding, unit tests) and the session on disk.
for (const kind of ['memory', 'session'] as const) {
  describe(`the ${kind} store`, () => {
    async function open(t: { after: (fn: () => Promise<void>) => void }, maxBytes?: number): Promise<FlowStore> {
      const session = kind === 'session' ? join(await tempDir(t), 's') : null;
      const store = new FlowStore({ session, ...(maxBytes ? { maxBytes } : {}) });
      t.after(() => store.close());
      return store;
    }

    test('events are delivered asynchronously, in order, and only summaries are handed out', async (t) => {
      const store = await open(t);
      const { events, settled } = collect(store);
      const f = flow('pending');
      store.add(f);
      assert.equal(events.length, 0, 'nothing is delivered synchronously');
      f.state = 'complete';
      store.update(f);
      await settled();
      assert.deepEqual(events.map((e) => e.type), ['flow', 'flow-update']);
      const first = events[0] as { flow: { state: string } };
      assert.equal(first.flow.state, 'pending', 'each event is a snapshot of its moment');
    });

    test('a body streamed through the store reads back byte for byte, in memory or once written', async (t) => {
      const store = await open(t);
      const f = flow('pending');
      store.add(f);
      const body = randomBytes(1024 * 1024 + 123);
      capture(store, f, body);
      f.state = 'complete';
      store.update(f);
      assert.equal(sha(await store.readBody(f.id, 'response')), sha(body), 'readable before it is written');
      await store.flushed();
      assert.equal(sha(await store.readBody(f.id, 'response')), sha(body));
      assert.equal(f.response!.body.length, 0, 'the flow object holds no body bytes');
      const whole = await store.withBodies(store.get(f.id)!);
      assert.equal(sha(whole.response!.body), sha(body));
    });

    test('pages are windows of the list, oldest first, with total and matched counts', async (t) => {
      const store = await open(t);
      const flows = Array.from({ length: 50 }, (_, i) => flow('complete', `https://h.test/${i % 5 === 0 ? 'five' : 'other'}/${i}`));
      for (const f of flows.slice(0, 30)) store.add(f);
      await store.flushed();
      // The last twenty are not written yet: windows include them all the same.
      for (const f of flows.slice(30)) store.add(f);
      const ids = flows.map((f) => f.id);
      assert.deepEqual(store.page({ limit: 10 }).flows.map((f) => f.id), ids.slice(40));
      const before = store.page({ limit: 10, before: ids[35]! });
      assert.deepEqual(before.flows.map((f) => f.id), ids.slice(25, 35));
      assert.equal(before.more, true);
      assert.deepEqual(store.page({ limit: 3, after: ids[28]! }).flows.map((f) => f.id), ids.slice(29, 32));
      const five = store.page({ limit: 4, filter: (s) => s.url.includes('/five/'), count: true });
      assert.deepEqual(five.flows.map((f) => f.url), [25, 30, 35, 40, 45].slice(1).map((i) => `https://h.test/five/${i}`));
      assert.equal(five.matched, 10);
      assert.equal(five.total, 50);
      assert.deepEqual(store.range(48, 5).flows.map((f) => f.id), ids.slice(48));
    });

    test('a filter run as SQL over written flows picks exactly what the predicate picks', async (t) => {
      const store = await open(t);
      const flows: Flow[] = [];
      const methods = ['GET', 'POST', 'DELETE'];
      for (let i = 0; i < 60; i++) {
        const f = flow(i % 9 === 0 ? 'pending' : 'complete', `https://${i % 2 ? 'api' : 'www'}.h${i % 3}.test/${i % 4 ? 'items' : 'Üsers'}/${i}?q=a_b%25`);
        f.host = new URL(f.request.url).hostname;
        f.request.method = methods[i % 3]!;
        if (i % 9 === 0) f.response = null;
        else {
          f.response!.status = [200, 204, 301, 404, 500][i % 5]!;
          f.response!.headers = i % 6 ? [['Content-Type', i % 2 ? 'application/json' : 'text/html']] : [];
        }
        if (i % 5 === 1) f.serverConnection = { ...connection(), id: `c${i}`, tls: { ...emptyHandshake(), version: i % 2 ? 'TLSv1.3' : 'TLSv1.2' } };
        flows.push(f);
        store.add(f);
      }
      await store.flushed();
      // Some changes not written yet: memory must win over the stale rows.
      flows[3]!.response!.status = 418;
      store.update(flows[3]!);
      const texts = ['host:api', '-host:api', 'status:4xx', 'status:>=300', '-status:200', 'method:post', 'method:get,delete', 'type:json', '-type:json', 'tls:1.3', 'tls:none', 'path:/items', 'url:a_b', 'url:%25', 'POST', '404', 'json', 'üsers', 'host:h1 status:2xx -method:get', 'status:418'];
      for (const text of texts) {
        const parsed = parseFilter(text);
        const predicate = compileFilter(parsed);
        const expected = flows.filter((f) => predicate.test(store.newest(100).find((s) => s.id === f.id)!)).map((f) => f.id);
        const page = store.page({ limit: 100, filter: storeFilter(parsed), count: true });
        assert.deepEqual(page.flows.map((f) => f.id), expected, text);
        assert.equal(page.matched, expected.length, `${text}: matched count`);
        // The same through the reader thread (a session on disk), in windows of five.
        const window = await store.query({ limit: 5, filter: storeFilter(parsed), count: true });
        assert.deepEqual(window.flows.map((f) => f.id), expected.slice(-5), `${text} (query)`);
        assert.equal(window.matched, expected.length, `${text}: matched count (query)`);
        assert.equal(window.more, expected.length > 5, `${text}: more (query)`);
      }
    });

    test('a flow the database refuses is counted and skipped; capture goes on', async (t) => {
      const store = await open(t);
      const bad = flow();
      // No column takes a missing method: the one row is refused, not the batch.
      (bad.request as { method: unknown }).method = undefined;
      const good = flow();
      store.add(bad);
      store.add(good);
      await store.flushed();
      assert.equal(store.status.state, 'recording');
      assert.equal(store.status.rejected, 1);
      assert.ok(store.get(good.id));
    });

    test('past its byte budget the store evicts the oldest finished flows, never pending ones', async (t) => {
      const store = await open(t, 8 * 1024 * 1024);
      const { events, settled } = collect(store);
      const pending = flow('pending');
      store.add(pending);
      const done: Flow[] = [];
      for (let i = 0; i < 24; i++) {
        const f = flow('pending');
        store.add(f);
        capture(store, f, randomBytes(512 * 1024));
        f.state = 'complete';
        store.update(f);
        done.push(f);
        await store.flushed();
      }
      await settled();
      assert.ok(store.bytes <= store.maxBytes, `${store.bytes} bytes within the ${store.maxBytes} budget`);
      assert.ok(store.get(pending.id), 'the pending flow stays');
      const evicted = events.filter((e) => e.type === 'flow-evicted').map((e) => (e as { id: string }).id);
      assert.ok(evicted.length > 0, 'something was evicted');
      assert.deepEqual(evicted, done.slice(0, evicted.length).map((f) => f.id), 'oldest first');
      assert.equal(store.get(done[0]!.id), undefined);
      const last = done[done.length - 1]!;
      assert.equal((await store.readBody(last.id, 'response')).length, 512 * 1024, 'newer bodies are intact');
    });

    test('sorted windows: time is start order, duration its own key, ties in arrival order', async (t) => {
      const store = await open(t);
      // Arrival order, start times and durations each order the flows differently.
      const starts = [5000, 1000, 3000, 1000, 4000, 2000];
      const durations = [10, 60, 30, 20, 50, 40];
      const flows = starts.map((startedAt, i) => {
        const f = flow('complete', `https://h.test/${i}`);
        f.startedAt = startedAt;
        f.duration = durations[i]!;
        store.add(f);
        return f;
      });
      await store.flushed();
      const order = (key: (i: number) => number): string[] =>
        flows
          .map((f, i) => ({ id: f.id, i, k: key(i) }))
          .sort((a, b) => a.k - b.k || a.i - b.i)
          .map((x) => x.id);
      const byTime = order((i) => starts[i]!);
      const byDuration = order((i) => durations[i]!);
      assert.notDeepEqual(byTime, byDuration);
      const window = async (sort: 'time' | 'duration', order: 'asc' | 'desc', limit = 10, offset: number | null = 0): Promise<string[]> =>
        (await store.sortedPage({ filter: null, sort, order, limit, offset })).flows.map((f) => f.id);
      assert.deepEqual(await window('time', 'asc'), byTime);
      assert.deepEqual(await window('time', 'desc'), [...byTime].reverse());
      assert.deepEqual(await window('duration', 'asc'), byDuration);
      assert.deepEqual(await window('time', 'asc', 2, 2), byTime.slice(2, 4));
      // A flow in memory, not written yet, takes its place by start time in an anchored window.
      const late = flow('complete', 'https://h.test/late');
      late.startedAt = 2500;
      late.duration = 1;
      store.add(late);
      const after = (await store.sortedPage({ filter: null, sort: 'time', order: 'asc', limit: 10, after: byTime[0]! })).flows.map((f) => f.id);
      assert.deepEqual(after, [byTime[1], byTime[2], late.id, ...byTime.slice(3)]);
    });
  });
}

describe('a session on disk', () => {
  test('reopens with every flow: bodies, connections, WebSocket messages; unfinished ones say so', async (t) => {
    const dir = join(await tempDir(t), 's');
    const first = new FlowStore({ session: dir });
    const f = flow('pending');
    f.serverConnection = connection();
    first.add(f);
    const body = randomBytes(300_000);
    capture(first, f, body);
    f.state = 'complete';
    first.update(f);
    const ws = flow('pending', 'wss://h.test/socket');
    ws.kind = 'websocket';
    ws.websocket = { protocol: null, extensions: null, messages: [], closeCode: null, closeReason: null, closedBy: null };
    first.add(ws);
    const message = { type: 'send' as const, time: 1.5, opcode: 1, size: 5, data: 'hello', truncated: false };
    ws.websocket.messages.push(message);
    first.wsMessage(ws.id, 0, message);
    await first.close();

    const again = new FlowStore({ session: dir });
    t.after(() => again.close());
    assert.equal(again.size, 2);
    const back = again.get(f.id)!;
    assert.equal(back.state, 'complete');
    assert.equal(back.serverConnection?.tls?.events.map((e) => e.type).join(','), 'TCPConnect,ClientHello');
    assert.equal(sha(await again.readBody(f.id, 'response')), sha(body));
    const wsBack = again.get(ws.id)!;
    assert.deepEqual(wsBack.websocket?.messages, [message]);
    assert.equal(wsBack.state, 'error', 'an exchange the proxy never finished is not left pending');
    assert.equal(wsBack.error?.code, 'MITM_ERR_INTERRUPTED');
    assert.equal(wsBack.error?.message, INTERRUPTED);
    // Appending after reopening keeps the order.
    const g = flow();
    again.add(g);
    assert.deepEqual(again.newest(3).map((s) => s.id), [f.id, ws.id, g.id]);
  });

  test('a flow paused at a breakpoint keeps its edited body and is interrupted by a crash', async (t) => {
    const dir = join(await tempDir(t), 's');
    const first = new FlowStore({ session: dir });
    const held = flow('paused');
    held.paused = 'request';
    first.add(held);
    first.replaceBody(held, 'request', Buffer.from('edited'));
    await first.flushed();
    assert.equal((await first.readBody(held.id, 'request')).toString(), 'edited');
    await first.close();

    const again = new FlowStore({ session: dir });
    t.after(() => again.close());
    const back = again.get(held.id)!;
    assert.deepEqual([back.state, back.paused, back.error?.code], ['error', null, 'MITM_ERR_INTERRUPTED']);
    assert.equal((await again.readBody(held.id, 'request')).toString(), 'edited');
  });

  test('a torn body write is detected at open: the body is kept as far as it exists and marked', async (t) => {
    const dir = join(await tempDir(t), 's');
    const first = new FlowStore({ session: dir });
    const f = flow();
    first.add(f);
    capture(first, f, randomBytes(200_000));
    first.update(f);
    await first.close();
    const segments = await readdir(join(dir, 'bodies'));
    assert.equal(segments.length, 1);
    await truncate(join(dir, 'bodies', segments[0]!), 150_000);
    const again = new FlowStore({ session: dir });
    t.after(() => again.close());
    const back = again.get(f.id)!;
    assert.equal(back.response?.bodyTruncated, true);
    assert.match(back.notes.join(' '), /cut short/);
    assert.ok((await again.readBody(f.id, 'response')).length <= 150_000);
  });

  test('a full disk pauses capture with a status while flows go on, and capture resumes when space returns', async (t) => {
    const dir = join(await tempDir(t), 's');
    let full = false;
    const real = fileSegmentIo(join(dir, 'bodies'));
    const io: SegmentIo = {
      remove: (n) => real.remove(n),
      async open(n) {
        const h = await real.open(n);
        return {
          read: (p, l) => h.read(p, l),
          close: () => h.close(),
          writev: (b, p) => (full ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })) : h.writev(b, p)),
        };
      },
    };
    const store = new FlowStore({ session: dir, segmentIo: io });
    t.after(() => store.close());
    const { events, settled } = collect(store);
    full = true;
    const lost = flow();
    store.add(lost);
    capture(store, lost, randomBytes(100_000));
    store.update(lost);
    await store.flushed();
    assert.equal(store.status.state, 'paused');
    assert.match(store.status.reason ?? '', /ENOSPC/);
    await settled();
    assert.ok(events.some((e) => e.type === 'capture' && e.status.state === 'paused'), 'the pause is announced');
    full = false;
    const later = flow();
    store.add(later);
    // The retry timer finds space again.
    await new Promise<void>((resolve) => {
      const stop = store.subscribe((e) => {
        if (e.type === 'capture' && e.status.state === 'recording') {
          stop();
          resolve();
        }
      });
    });
    await store.flushed();
    assert.equal(store.status.state, 'recording');
    assert.ok(store.get(later.id), 'flows after the pause are stored');
    assert.equal(store.get(lost.id)?.response?.bodyTruncated, true, 'the body that could not be written says so');
  });

  test('a corrupt database is refused with a clear error and left untouched', async (t) => {
    const dir = join(await tempDir(t), 's');
    await new FlowStore({ session: dir }).close();
    const db = join(dir, 'session.db');
    await writeFile(db, Buffer.concat([Buffer.from('definitely not SQLite'), randomBytes(4096)]));
    const before = sha(await readFile(db));
    assert.throws(() => new FlowStore({ session: dir }), (err: unknown) => err instanceof StoreError && err.code === 'MITM_ERR_SESSION_CORRUPT' && err.path === db);
    assert.equal(sha(await readFile(db)), before);
  });

  test('a folder that cannot be used is refused with the path and the fix', async (t) => {
    const parent = await tempDir(t);
    await writeFile(join(parent, 'file'), 'x');
    assert.throws(
      () => new FlowStore({ session: join(parent, 'file', 's') }),
      (err: unknown) => err instanceof StoreError && err.code === 'MITM_ERR_SESSION_IO' && /--session/.test(err.message),
    );
  });

  test('key log lines are kept in the session: a reopened session exports the same lines', async (t) => {
    const dir = join(await tempDir(t), 's');
    const first = new FlowStore({ session: dir });
    const f = flow('pending');
    const server = connection();
    const client: Connection = { ...connection(), id: 'conn-client', side: 'client', tls: emptyHandshake() };
    const random = 'ab'.repeat(32);
    for (const [leg, label] of [
      [client, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET'],
      [client, 'SERVER_TRAFFIC_SECRET_0'],
      [server, 'CLIENT_RANDOM'],
    ] as const) {
      rememberKeylog(leg.tls!, parseKeylogLine(Buffer.from(`${label} ${random} ${'cd'.repeat(48)}\n`))!);
    }
    f.clientConnection = client;
    f.serverConnection = server;
    first.add(f);
    f.state = 'complete';
    first.update(f);
    const before = first.keylog(first.get(f.id)!);
    assert.equal(before.length, 3);
    assert.deepEqual(before, [...keylogLines(client.tls), ...keylogLines(server.tls)]);
    await first.close();

    const again = new FlowStore({ session: dir });
    t.after(() => again.close());
    const back = again.get(f.id)!;
    assert.notEqual(back.clientConnection?.tls, client.tls, 'the reopened flow has its own handshake objects');
    assert.deepEqual(again.keylog(back), before);
    // Clearing the session takes the key material with it.
    again.clear();
    const raw = new Database(join(dir, 'session.db'), { readonly: true });
    t.after(() => raw.close());
    assert.equal((raw.prepare('SELECT count(*) AS n FROM keylog').get() as { n: number }).n, 0);
  });

  test('writing keeps no sort index, and sorted windows come out the same with or without them', async (t) => {
    const dir = join(await tempDir(t), 's');
    const indexes = (): string[] => {
      const raw = new Database(join(dir, 'session.db'), { readonly: true });
      try {
        return (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'flows_by_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      } finally {
        raw.close();
      }
    };
    const statuses = [503, 200, 404, 200, 503];
    const first = new FlowStore({ session: dir });
    statuses.forEach((status, i) => {
      const f = flow('complete', `https://h.test/${i}`);
      f.response!.status = status;
      first.add(f);
    });
    await first.close();
    assert.deepEqual(indexes(), []);
    const sortedByStatus = async (): Promise<string[]> => {
      const store = new FlowStore({ session: dir });
      try {
        return (await store.sortedPage({ filter: null, sort: 'status', order: 'asc', limit: 10, offset: 0 })).flows.map((f) => f.url);
      } finally {
        await store.close();
      }
    };
    const without = await sortedByStatus();
    // By status, ties in arrival order.
    assert.deepEqual(without, [1, 3, 2, 0, 4].map((i) => `https://h.test/${i}`));
    // A session that has them (an earlier mitmscope kept them) is read through them, to the same result.
    const raw = new Database(join(dir, 'session.db'));
    for (const c of SORT_COLUMNS) raw.exec(sortIndexSql(c));
    raw.close();
    assert.equal(indexes().length, SORT_COLUMNS.length);
    assert.deepEqual(await sortedByStatus(), without);
  });

  test('the folder is private to its owner, and so is the database', async (t) => {
    const dir = join(await tempDir(t), 's');
    const store = new FlowStore({ session: dir });
    t.after(() => store.close());
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'session.db'))).mode & 0o777, 0o600);
  });
});
