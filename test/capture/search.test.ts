import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { curl, startHttpServer, startProxy, type Listening, type TestProxy } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { searchFlows } from '../../src/capture/search.js';
import { parseFilter } from '../../src/filter/parse.js';
import { makeFlow, request, startHarness } from '../dashboard/harness.js';

const MARKER = 'needle-7f3a';

/** Each path answers JSON, the marker only in /gzip-marker, each with its Content-Encoding. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const json = Buffer.from(JSON.stringify({ path: url, value: url === '/gzip-marker' ? MARKER : 'nothing here' }));
  res.setHeader('Content-Type', 'application/json');
  req.resume();
  req.on('end', () => {
    if (url.startsWith('/gzip')) return void res.setHeader('Content-Encoding', 'gzip').end(zlib.gzipSync(json));
    if (url.startsWith('/br')) return void res.setHeader('Content-Encoding', 'br').end(zlib.brotliCompressSync(json));
    if (url.startsWith('/deflate')) return void res.setHeader('Content-Encoding', 'deflate').end(zlib.deflateSync(json));
    res.setHeader('X-Served-By', 'plain-7');
    res.end(json);
  });
}

describe('search inside captured flows', { skip: requireTools('curl') }, () => {
  let upstream: Listening;
  let proxy: TestProxy;
  const base = () => `http://127.0.0.1:${upstream.port}`;

  before(async () => {
    upstream = await startHttpServer(answer);
    proxy = await startProxy();
    for (const path of ['/gzip-marker', '/gzip-other', '/br-other', '/deflate-other', '/plain']) {
      const r = await curl(proxy, `${base()}${path}`);
      assert.match(r.stdout, /\n200$/, r.stderr);
    }
    const post = await curl(proxy, `${base()}/plain-post`, ['-H', 'Content-Type: application/json', '-H', 'X-Trace: trace-99', '--data-raw', `{"q":"in the request ${MARKER.toUpperCase()}"}`]);
    assert.match(post.stdout, /\n200$/, post.stderr);
    await flowWhere(proxy, (f) => f.request.url.endsWith('/plain-post') && f.state === 'complete');
  });
  after(async () => {
    await proxy.cleanup();
    await upstream.close();
  });

  async function paths(filter: string): Promise<string[]> {
    const parsed = parseFilter(filter);
    assert.deepEqual(parsed.errors, []);
    const result = await searchFlows(proxy.store, parsed);
    assert.equal(result.complete, true);
    assert.equal(result.matched, result.ids.length);
    return result.ids.map((id) => new URL(proxy.store.get(id)!.request.url).pathname).sort();
  }

  test('res.body finds the one flow with the marker inside its gzip-encoded response', async () => {
    assert.deepEqual(await paths(`res.body:${MARKER}`), ['/gzip-marker']);
  });

  test('brotli and deflate bodies are searched decoded too', async () => {
    assert.deepEqual(await paths('res.body:/path.{3}\\/(br|deflate)-other/'), ['/br-other', '/deflate-other']);
  });

  test('body: reads both sides; req.body: only the request', async () => {
    assert.deepEqual(await paths(`body:${MARKER}`), ['/gzip-marker', '/plain-post']);
    assert.deepEqual(await paths(`req.body:${MARKER}`), ['/plain-post']);
  });

  test('header terms, summary terms and negation combine', async () => {
    assert.deepEqual(await paths('header:x-trace=trace-99'), ['/plain-post']);
    assert.deepEqual(await paths('header:X-Served-By'), ['/plain', '/plain-post']);
    assert.deepEqual(await paths('method:GET -res.body:nothing'), ['/gzip-marker']);
    assert.deepEqual(await paths('path:/plain header:content-encoding'), []);
  });

  test('the scan stops at maxScan and says it is incomplete', async () => {
    const result = await searchFlows(proxy.store, parseFilter('body:path'), { maxScan: 2 });
    assert.equal(result.scanned, 2);
    assert.equal(result.complete, false);
  });
});

test('GET /api/search answers matches and counts; the list answers body terms by searching; bad input is refused', async (t) => {
  const h = await startHarness(t);
  const hit = makeFlow({ url: 'https://a.test/hit', status: 200, responseBody: Buffer.from('has the word banana') });
  h.store.add(hit);
  h.store.add(makeFlow({ url: 'https://a.test/miss', status: 200, responseBody: Buffer.from('nothing') }));
  const r = await request(h.port, { path: `/api/search?filter=${encodeURIComponent('res.body:banana')}` });
  assert.equal(r.status, 200);
  const body = r.json() as { ids: string[]; matched: number; scanned: number; complete: boolean };
  assert.deepEqual({ ids: body.ids, matched: body.matched, scanned: body.scanned, complete: body.complete }, { ids: [hit.id], matched: 1, scanned: 2, complete: true });
  const list = await request(h.port, { path: `/api/flows?filter=${encodeURIComponent('res.body:banana status:200')}` });
  assert.equal(list.status, 200);
  assert.deepEqual((list.json() as { id: string }[]).map((f) => f.id), [hit.id]);
  for (const path of ['/api/search', `/api/search?filter=${encodeURIComponent('body:/(/')}`, '/api/search?filter=body:x&maxScan=-1', '/api/flows?filter=body:x&sort=url']) {
    const bad = await request(h.port, { path });
    assert.equal(bad.status, 400, path);
    assert.equal((bad.json() as { code: string }).code, 'MITM_ERR_API_BAD_INPUT');
  }
});
