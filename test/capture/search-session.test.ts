/**
 * Body and header search over a session on disk, scanned by the session's search thread: the
 * same answers as the in-process scan of a memory store (flows written, changed in memory since,
 * not written yet, bounded scans), and the proxy's event loop keeps answering while a long search
 * runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import zlib from 'node:zlib';
import type { TestContext } from 'node:test';
import { FlowStore } from '../../src/capture/store.js';
import { searchFlows, type SearchResult } from '../../src/capture/search.js';
import { parseFilter } from '../../src/filter/parse.js';
import type { Flow } from '../../src/capture/flow.js';
import { makeFlow, request, startHarness, TOKEN } from '../dashboard/harness.js';
import { tempSessionStore } from '../helpers/flows.js';

const sessionStore = (t: TestContext): Promise<FlowStore> => tempSessionStore(t, 'mitmscope-search-');

/** The same traffic for any store: encodings, headers, a truncated body, flows written, changed and in flight. */
async function fill(store: FlowStore): Promise<{ urlOf: Map<string, string> }> {
  const urlOf = new Map<string, string>();
  const add = (f: Flow): Flow => {
    urlOf.set(f.id, f.request.url);
    store.add(f);
    return f;
  };
  // Pending first, never written before the search: it must still be found in its place.
  const early = makeFlow({ url: 'https://a.test/early-pending', requestHeaders: [['X-Phase', 'early']], requestBody: Buffer.from('early apple') });
  early.state = 'pending';
  add(early);
  for (let i = 0; i < 60; i++) {
    const text = JSON.stringify({ i, fruit: i % 7 === 0 ? 'apple' : 'pear', tag: `t${i}` });
    const coding = ['gzip', 'br', 'deflate', null][i % 4]!;
    const body = coding === 'gzip' ? zlib.gzipSync(text) : coding === 'br' ? zlib.brotliCompressSync(text) : coding === 'deflate' ? zlib.deflateSync(text) : Buffer.from(text);
    add(
      makeFlow({
        url: `https://${i % 3 === 0 ? 'a' : 'b'}.test/item/${i}`,
        method: i % 5 === 0 ? 'POST' : 'GET',
        status: i % 6 === 0 ? 404 : 200,
        requestHeaders: [['Host', 'x.test'], ['X-Trace', `trace-${i}`]],
        ...(i % 5 === 0 ? { requestBody: Buffer.from(`posted apple ${i}`) } : {}),
        responseHeaders: coding ? [['Content-Encoding', coding], ['Content-Type', 'application/json']] : [['Content-Type', 'application/json']],
        responseBody: body,
      }),
    );
  }
  // A gzip body cut short: searched as far as it decodes.
  const long = zlib.gzipSync(`start apple ${'x'.repeat(50_000)} end banana`);
  add(makeFlow({ url: 'https://a.test/truncated', status: 200, responseHeaders: [['Content-Encoding', 'gzip']], responseBody: long.subarray(0, 200), bodyTruncated: true }));
  await store.flushed();
  // Written, then changed in memory: the stored row is stale, memory wins.
  const changed = store.get([...urlOf].find(([, url]) => url.endsWith('/item/1'))![0])!;
  changed.response!.headers.push(['X-Late', 'yes']);
  store.update(changed);
  // In flight, not written yet.
  add(makeFlow({ url: 'https://b.test/late-pending', requestHeaders: [['X-Phase', 'late']] }));
  return { urlOf };
}

const EXPRESSIONS = [
  'res.body:apple',
  'body:apple',
  'req.body:apple',
  '-res.body:pear',
  'body:/t(1|2)[0-9]"/',
  'header:x-late',
  'header:x-phase',
  'header:x-trace=/trace-[0-4]$/',
  'host:a.test body:apple',
  'method:POST -req.body:/apple 1[0-9]$/',
  'res.body:banana',
  'res.body:"start apple"',
];

function shape(r: SearchResult, urlOf: Map<string, string>): object {
  return { urls: r.ids.map((id) => urlOf.get(id)), matched: r.matched, scanned: r.scanned, complete: r.complete };
}

test('a search over a session on disk answers exactly what the in-process scan of a memory store answers', async (t) => {
  const disk = await sessionStore(t);
  const memory = new FlowStore();
  t.after(() => memory.close());
  const a = await fill(disk);
  const b = await fill(memory);
  const compare = async (when: string): Promise<void> => {
    for (const expression of EXPRESSIONS) {
      const parsed = parseFilter(expression);
      assert.deepEqual(parsed.errors, [], expression);
      for (const options of [{}, { maxScan: 0 }, { maxScan: 1 }, { maxScan: 7 }, { maxScan: 62 }, { maxIds: 2 }]) {
        const onDisk = shape(await searchFlows(disk, parsed, options), a.urlOf);
        const inMemory = shape(await searchFlows(memory, parsed, options), b.urlOf);
        assert.deepEqual(onDisk, inMemory, `${expression} ${JSON.stringify(options)} ${when}`);
      }
    }
  };
  await compare('with flows not written yet');
  // Pending flows get a row after a while and stay in memory: the rows are stale, memory wins.
  for (const store of [disk, memory]) while (store.unsaved.flows > 0) await new Promise((resolve) => setTimeout(resolve, 25));
  await compare('with pending flows written');
  // Spot checks, so that two equally wrong answers cannot pass.
  const urls = async (expression: string): Promise<(string | undefined)[]> => (await searchFlows(disk, parseFilter(expression))).ids.map((id) => a.urlOf.get(id));
  assert.deepEqual(await urls('header:x-late'), ['https://b.test/item/1']);
  assert.deepEqual(await urls('header:x-phase'), ['https://a.test/early-pending', 'https://b.test/late-pending']);
  assert.deepEqual(await urls('res.body:"start apple"'), ['https://a.test/truncated']);
  const all = await searchFlows(disk, parseFilter('body:apple'));
  assert.equal(all.scanned, 63);
  assert.ok(all.ids.includes([...a.urlOf].find(([, u]) => u.endsWith('/early-pending'))![0]));
});

test('while a long search runs on the session, the event loop answers other requests', async (t) => {
  const store = await sessionStore(t);
  const h = await startHarness(t, { store });
  // Each body costs the regex about a second of backtracking; the marker is nowhere.
  for (let i = 0; i < 2; i++) h.store.add(makeFlow({ url: `https://slow.test/${i}`, status: 200, responseBody: Buffer.from('a'.repeat(1 << 20)) }));
  await h.store.flushed();
  const order: string[] = [];
  let sent!: () => void;
  const searchSent = new Promise<void>((resolve) => (sent = resolve));
  const search = new Promise<string>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: h.port, path: `/api/search?filter=${encodeURIComponent('res.body:/a{1,60}b/')}`, headers: { authorization: `Bearer ${TOKEN}`, host: h.host } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          order.push('search');
          resolve(text);
        });
      },
    );
    req.on('error', reject);
    req.end();
    req.on('finish', () => {
      order.push('search sent');
      sent();
    });
  });
  // Sent once the search is on its way; each answered one after the other while it scans.
  await searchSent;
  for (let i = 0; i < 3; i++) {
    const status = await request(h.port, { path: '/api/status' });
    assert.equal(status.status, 200);
    order.push(`status ${i}`);
  }
  const result = JSON.parse(await search) as SearchResult;
  assert.deepEqual({ matched: result.matched, scanned: result.scanned, complete: result.complete }, { matched: 0, scanned: 2, complete: true });
  assert.deepEqual(order, ['search sent', 'status 0', 'status 1', 'status 2', 'search']);
});
