import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flowsToHar } from '../../src/har/mapping.js';
import { HarRecorder, type HarRecordingStatus } from '../../src/har/recorder.js';
import type { FlowJson, FlowSummary } from '../../src/capture/flow.js';
import { CA_DER, CA_P12, CA_PEM, makeFlow, request, startHarness } from './harness.js';

const PAGE = Buffer.from(Array.from({ length: 4000 }, (_, i) => `<p>row ${i}</p>\n`).join(''));

test('GET /api/flows lists summaries in arrival order and honours since and limit', async (t) => {
  const h = await startHarness(t);
  const flows = [makeFlow({ url: 'https://a.test/1', status: 200 }), makeFlow({ method: 'POST', url: 'https://a.test/2' }), makeFlow({ url: 'https://a.test/3', status: 404 })];
  for (const f of flows) h.store.add(f);

  const all = (await request(h.port, { path: '/api/flows' })).json() as FlowSummary[];
  assert.deepEqual(all.map((s) => s.id), flows.map((f) => f.id));
  assert.deepEqual(
    { id: all[1]!.id, method: all[1]!.method, url: all[1]!.url, status: all[1]!.status, state: all[1]!.state },
    { id: flows[1]!.id, method: 'POST', url: 'https://a.test/2', status: null, state: 'pending' },
  );
  assert.equal(all[0]!.status, 200);
  assert.equal(typeof all[0]!.startedAt, 'number');
  assert.equal(all[0]!.duration, 12.5);
  assert.equal((await request(h.port, { path: '/api/flows' })).headers['cache-control'], 'no-store');

  const since = (await request(h.port, { path: '/api/flows?since=1' })).json() as FlowSummary[];
  assert.deepEqual(since.map((s) => s.url), ['https://a.test/2', 'https://a.test/3']);
  const limited = (await request(h.port, { path: '/api/flows?since=1&limit=1' })).json() as FlowSummary[];
  assert.deepEqual(limited.map((s) => s.url), ['https://a.test/2']);
  const bad = await request(h.port, { path: '/api/flows?since=-1' });
  assert.equal(bad.status, 400);
  assert.equal((bad.json() as { code: string }).code, 'MITM_ERR_API_BAD_INPUT');
});

test('GET /api/flows/:id answers the whole flow without bodies, headers as pairs in wire order', async (t) => {
  const h = await startHarness(t);
  const flow = makeFlow({
    status: 200,
    requestHeaders: [['Host', 'example.test'], ['X-B', '2'], ['x-a', '1']],
    responseHeaders: [['Content-Type', 'text/html'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']],
    responseBody: PAGE,
  });
  h.store.add(flow);
  const res = await request(h.port, { path: `/api/flows/${flow.id}` });
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const json = res.json() as FlowJson & { request: { body?: unknown } };
  assert.equal(json.id, flow.id);
  assert.deepEqual(json.request.headers, [['Host', 'example.test'], ['X-B', '2'], ['x-a', '1']]);
  assert.deepEqual(json.response?.headers, [['Content-Type', 'text/html'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  assert.equal(json.response?.bodySize, PAGE.length);
  assert.equal(json.response?.bodyTruncated, false);
  assert.equal(json.request.body, undefined);
  assert.deepEqual(json.tls, { client: null, server: null });
  assert.deepEqual(Object.keys(json.timings).sort(), ['blocked', 'connect', 'dns', 'receive', 'send', 'ssl', 'wait']);
  assert.equal(json.error, null);
});

test('an unknown flow id answers 404 with a JSON error and its code', async (t) => {
  const h = await startHarness(t);
  for (const path of ['/api/flows/nope', '/api/flows/nope/request/body', '/api/flows/nope/response/body']) {
    const res = await request(h.port, { path });
    assert.equal(res.status, 404, path);
    assert.equal((res.json() as { code: string }).code, 'MITM_ERR_NOT_FOUND');
  }
});

test('the response body of a flow still waiting for its response is a 404', async (t) => {
  const h = await startHarness(t);
  const flow = makeFlow();
  h.store.add(flow);
  const res = await request(h.port, { path: `/api/flows/${flow.id}/response/body` });
  assert.equal(res.status, 404);
  assert.equal((res.json() as { code: string }).code, 'MITM_ERR_NOT_FOUND');
});

test('bodies are served as inert attachments that name their original type', async (t) => {
  const h = await startHarness(t);
  const evil = Buffer.from('<script>alert(document.cookie)</script>');
  const flow = makeFlow({
    method: 'POST',
    url: 'https://example.test/upload/report%20v2.html?x=1',
    requestHeaders: [['Content-Type', 'application/json']],
    requestBody: Buffer.from('{"a":1}'),
    status: 200,
    responseHeaders: [['Content-Type', 'text/html; charset=utf-8']],
    responseBody: evil,
  });
  h.store.add(flow);

  const res = await request(h.port, { path: `/api/flows/${flow.id}/response/body` });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, evil);
  assert.equal(res.headers['content-type'], 'application/octet-stream');
  assert.equal(res.headers['x-mitmscope-content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['content-disposition'], 'attachment; filename="report_v2.html"');
  assert.equal(res.headers['content-security-policy'], "sandbox; default-src 'none'");
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['x-mitmscope-body-size'], String(evil.length));
  assert.equal(res.headers['x-mitmscope-truncated'], '0');

  const inline = await request(h.port, { path: `/api/flows/${flow.id}/response/body?inline=1` });
  assert.match(String(inline.headers['content-disposition']), /^inline;/);
  assert.equal(inline.headers['content-type'], 'application/octet-stream');
  assert.equal(inline.headers['content-security-policy'], "sandbox; default-src 'none'");

  const req = await request(h.port, { path: `/api/flows/${flow.id}/request/body` });
  assert.equal(req.text(), '{"a":1}');
  assert.equal(req.headers['x-mitmscope-content-type'], 'application/json');
  assert.equal(req.headers['content-disposition'], 'attachment; filename="request-body-report_v2.html"');
});

test('a captured header value with control characters cannot break the response headers', async (t) => {
  const h = await startHarness(t);
  const flow = makeFlow({ status: 200, responseHeaders: [['Content-Type', 'text/html\r\nSet-Cookie: x=1']], responseBody: Buffer.from('x') });
  h.store.add(flow);
  const res = await request(h.port, { path: `/api/flows/${flow.id}/response/body` });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-mitmscope-content-type'], 'text/html??Set-Cookie: x=1');
  assert.equal(res.headers['set-cookie'], undefined);
});

for (const [coding, encode] of [
  ['gzip', (b: Buffer) => zlib.gzipSync(b)],
  ['deflate', (b: Buffer) => zlib.deflateSync(b)],
  ['br', (b: Buffer) => zlib.brotliCompressSync(b)],
] as const) {
  test(`decode=1 undoes Content-Encoding ${coding} and says the decode was full`, async (t) => {
    const h = await startHarness(t);
    const encoded = encode(PAGE);
    const flow = makeFlow({ status: 200, responseHeaders: [['Content-Encoding', coding], ['Content-Type', 'text/html']], responseBody: encoded });
    h.store.add(flow);
    const raw = await request(h.port, { path: `/api/flows/${flow.id}/response/body` });
    assert.deepEqual(raw.body, encoded);
    assert.equal(raw.headers['x-mitmscope-content-encoding'], coding);
    assert.equal(raw.headers['x-mitmscope-decode'], undefined);
    const decoded = await request(h.port, { path: `/api/flows/${flow.id}/response/body?decode=1` });
    assert.equal(decoded.headers['x-mitmscope-decode'], 'full');
    assert.deepEqual(decoded.body, PAGE);
  });

  test(`decode=1 on a truncated ${coding} body decodes as far as it goes and says partial`, async (t) => {
    const h = await startHarness(t);
    // Random lines so the compressed half holds a real share of the text.
    const noisy = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i} ${randomBytes(8).toString('hex')}\n`).join(''));
    const encoded = encode(noisy);
    const kept = encoded.subarray(0, Math.floor(encoded.length / 2));
    const flow = makeFlow({ status: 200, responseHeaders: [['Content-Encoding', coding]], responseBody: kept, bodyTruncated: true });
    h.store.add(flow);
    const res = await request(h.port, { path: `/api/flows/${flow.id}/response/body?decode=1` });
    assert.equal(res.headers['x-mitmscope-decode'], 'partial');
    assert.equal(res.headers['x-mitmscope-truncated'], '1');
    assert.ok(res.body.length > 0, 'some bytes decoded');
    assert.ok(res.body.length < noisy.length, 'not the whole body');
    assert.deepEqual(res.body, noisy.subarray(0, res.body.length));
  });
}

test('decode=1 accepts raw deflate too, as browsers do', async (t) => {
  const h = await startHarness(t);
  const flow = makeFlow({ status: 200, responseHeaders: [['Content-Encoding', 'deflate']], responseBody: zlib.deflateRawSync(PAGE) });
  h.store.add(flow);
  const res = await request(h.port, { path: `/api/flows/${flow.id}/response/body?decode=1` });
  assert.equal(res.headers['x-mitmscope-decode'], 'full');
  assert.deepEqual(res.body, PAGE);
});

test('decode=1 sends the captured bytes when there is nothing it can undo, and says why', async (t) => {
  const h = await startHarness(t);
  const plain = makeFlow({ status: 200, responseBody: PAGE });
  const zstd = makeFlow({ status: 200, responseHeaders: [['Content-Encoding', 'zstd']], responseBody: Buffer.from('zstd bytes') });
  const garbage = makeFlow({ status: 200, responseHeaders: [['Content-Encoding', 'gzip']], responseBody: Buffer.from('not gzip at all') });
  for (const f of [plain, zstd, garbage]) h.store.add(f);
  const outcomes: [string, string | undefined, Buffer][] = [];
  for (const f of [plain, zstd, garbage]) {
    const res = await request(h.port, { path: `/api/flows/${f.id}/response/body?decode=1` });
    outcomes.push([f.id, res.headers['x-mitmscope-decode'] as string | undefined, res.body]);
  }
  assert.deepEqual(outcomes.map((o) => o[1]), ['identity', 'unsupported', 'failed']);
  assert.deepEqual(outcomes[0]![2], PAGE);
  assert.equal(outcomes[1]![2].toString(), 'zstd bytes');
  assert.equal(outcomes[2]![2].toString(), 'not gzip at all');
});

test('DELETE /api/flows empties the store', async (t) => {
  const h = await startHarness(t);
  h.store.add(makeFlow({ status: 200 }));
  h.store.add(makeFlow({ status: 200 }));
  const res = await request(h.port, { method: 'DELETE', path: '/api/flows' });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { cleared: 2 });
  assert.equal(h.store.size, 0);
  assert.deepEqual((await request(h.port, { path: '/api/flows' })).json(), []);
});

test('GET /api/status reports the version, flow count, stored bytes and recording', async (t) => {
  const h = await startHarness(t, { recording: { path: '/tmp/session.har' } });
  h.store.add(makeFlow({ status: 200, responseBody: PAGE }));
  const status = (await request(h.port, { path: '/api/status' })).json() as Record<string, unknown>;
  assert.match(String(status['version']), /^\d+\.\d+\.\d+/);
  assert.equal(status['flows'], 1);
  assert.ok((status['storeBytes'] as number) >= PAGE.length, 'storeBytes counts the body');
  assert.deepEqual(status['recording'], { path: '/tmp/session.har' });

  const idle = await startHarness(t);
  assert.equal(((await request(idle.port, { path: '/api/status' })).json() as Record<string, unknown>)['recording'], null);
});

test('GET /api/status counts flows the HAR recorder could not map, and says why', async (t) => {
  let recorder: HarRecorder | null = null;
  const h = await startHarness(t, { harStatus: () => recorder!.status() });
  const path = join(h.dir, 'session.har');
  recorder = await HarRecorder.open(path, { append: false, store: h.store });
  // A start time no Date can print: HAR needs an ISO timestamp, so this flow cannot be an entry.
  const broken = makeFlow({ url: 'https://a.test/broken', status: 200 });
  broken.startedAt = Number.NaN;
  h.store.add(broken);
  h.store.add(makeFlow({ url: 'https://a.test/fine', status: 200 }));
  await recorder.close();

  const status = (await request(h.port, { path: '/api/status' })).json() as { har: HarRecordingStatus };
  assert.deepEqual({ ...status.har, lastError: null }, { path, entries: 1, unmapped: 1, lastError: null, stopped: false });
  assert.ok(status.har.lastError?.includes(broken.id), status.har.lastError ?? 'no lastError');
  const har = JSON.parse(await readFile(path, 'utf8')) as { log: { entries: { request: { url: string } }[] } };
  assert.deepEqual(har.log.entries.map((e) => e.request.url), ['https://a.test/fine']);

  const idle = await startHarness(t);
  assert.equal(((await request(idle.port, { path: '/api/status' })).json() as Record<string, unknown>)['har'], null);
});

test('GET /api/har exports the store as HAR 1.2', async (t) => {
  const h = await startHarness(t);
  const flow = makeFlow({ url: 'https://example.test/a', status: 201, responseHeaders: [['Content-Type', 'text/plain']], responseBody: Buffer.from('hi') });
  h.store.add(flow);
  const res = await request(h.port, { path: '/api/har' });
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-disposition']), /^attachment; filename="mitmscope-.*\.har"$/);
  const har = res.json() as { log: { version: string; creator: { name: string }; entries: { request: { url: string }; response: { status: number } }[] } };
  assert.equal(har.log.version, '1.2');
  assert.equal(har.log.creator.name, 'mitmscope');
  assert.deepEqual(har.log.entries.map((e) => [e.request.url, e.response.status]), [['https://example.test/a', 201]]);
});

test('POST /api/har imports the entries into the store as imported flows', async (t) => {
  const h = await startHarness(t);
  const har = flowsToHar([makeFlow({ url: 'https://one.test/', status: 200 }), makeFlow({ url: 'https://two.test/x', status: 500 })]);
  const res = await request(h.port, { method: 'POST', path: '/api/har', headers: { 'content-type': 'application/json' }, body: JSON.stringify(har) });
  assert.equal(res.status, 200, res.text());
  assert.deepEqual(res.json(), { imported: 2 });
  const flows = h.store.list();
  assert.deepEqual(flows.map((f) => [f.request.url, f.response?.status, f.imported]), [
    ['https://one.test/', 200, true],
    ['https://two.test/x', 500, true],
  ]);
});

test('POST /api/har answers 400 with the HAR error code and message for a bad file', async (t) => {
  const h = await startHarness(t);
  const broken = await request(h.port, { method: 'POST', path: '/api/har', headers: { 'content-type': 'application/json' }, body: '{"log": {"entries": [}' });
  assert.equal(broken.status, 400);
  const err = broken.json() as { error: string; code: string };
  assert.equal(err.code, 'MITM_ERR_HAR_INVALID');
  assert.match(err.error, /line 1, column \d+/);
  const shapeless = await request(h.port, { method: 'POST', path: '/api/har', headers: { 'content-type': 'application/json' }, body: '{"nolog": 1}' });
  assert.equal(shapeless.status, 400);
  assert.equal((shapeless.json() as { code: string }).code, 'MITM_ERR_HAR_INVALID');
  assert.equal(h.store.size, 0);
});

test('the CA certificate downloads need no token and carry their content types', async (t) => {
  const h = await startHarness(t);
  const expected: [string, string, Buffer][] = [
    ['/ca.pem', 'application/x-pem-file', Buffer.from(CA_PEM)],
    ['/ca.cer', 'application/pkix-cert', CA_DER],
    ['/ca.p12', 'application/x-pkcs12', CA_P12],
  ];
  for (const [path, type, bytes] of expected) {
    const res = await request(h.port, { path, auth: false });
    assert.equal(res.status, 200, path);
    assert.equal(res.headers['content-type'], type);
    assert.deepEqual(res.body, bytes);
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="mitmscope-ca\./);
  }
});

test('the static UI is served from uiDir at / behind the token', async (t) => {
  const h = await startHarness(t, { ui: true });
  const index = await request(h.port, { path: '/' });
  assert.equal(index.status, 200);
  assert.match(index.text(), /mitmscope ui/);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.equal((await request(h.port, { path: '/app.js' })).text(), 'console.log(1)');
  assert.equal((await request(h.port, { path: '/', auth: false })).status, 401);
  assert.equal((await request(h.port, { path: '/app.js', auth: false })).status, 401);
  assert.equal((await request(h.port, { path: '/missing.js' })).status, 404);
});

test('without a built UI, GET / answers a short page that says so', async (t) => {
  const h = await startHarness(t);
  const res = await request(h.port, { path: '/' });
  assert.equal(res.status, 200);
  assert.match(res.text(), /not built/);
  assert.doesNotMatch(res.text(), /<script/i);
});

test('unknown API routes answer a JSON 404', async (t) => {
  const h = await startHarness(t);
  const res = await request(h.port, { path: '/api/nothing' });
  assert.equal(res.status, 404);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.equal((res.json() as { code: string }).code, 'MITM_ERR_NOT_FOUND');
});
