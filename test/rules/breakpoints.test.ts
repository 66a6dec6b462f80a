import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { curl, curlStatus } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { startRulesProxy, startUpstreams } from './harness.js';

test('a request breakpoint holds the request until resumed with edits; the upstream sees only the edited request', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  const rule = await api('POST', '/api/rules', { match: 'path:/hold', action: { type: 'pause', at: 'request' } });
  assert.equal(rule.status, 201);
  assert.equal(typeof (rule.json as { id: string }).id, 'string');

  const client = curl(proxy, `https://localhost:${up.https.port}/hold`, ['-d', 'original body', '-H', 'X-Edit: before']);
  const paused = await flowWhere(proxy, (f) => f.state === 'paused');
  assert.equal(paused.paused, 'request');
  assert.equal(up.seen.length, 0, 'nothing reached the upstream while paused');
  assert.equal((await proxy.store.readBody(paused.id, 'request')).toString(), 'original body');

  const headers = paused.request.headers.map(([n, v]): [string, string] => (n.toLowerCase() === 'x-edit' ? [n, 'after'] : [n, v]));
  const resumed = await api('POST', `/api/flows/${paused.id}/resume`, { headers, body: 'the edited, longer body' });
  assert.deepEqual(resumed, { status: 200, json: { resumed: paused.id, at: 'request' } });

  const r = await client;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(curlStatus(r), { body: 'echo POST /hold the edited, longer body', status: 200 });
  assert.equal(up.seen[0]!.headers['x-edit'], 'after');
  assert.equal(up.seen[0]!.headers['content-length'], String('the edited, longer body'.length));
  const done = await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'complete');
  assert.equal(done.paused, null);
  assert.equal((await proxy.store.readBody(paused.id, 'request')).toString(), 'the edited, longer body', 'the flow keeps what was sent');
  assert.equal(proxy.breakpoints.size, 0);
});

test('a response breakpoint lets the client receive an edited status and body, with a right Content-Length', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'status:2xx path:/resp', action: { type: 'pause', at: 'response' } });
  const client = curl(proxy, `https://localhost:${up.https.port}/resp`, ['-D', '-']);
  const paused = await flowWhere(proxy, (f) => f.state === 'paused');
  assert.equal(paused.paused, 'response');
  assert.equal(up.seen.length, 1, 'the upstream answered');
  assert.equal((await proxy.store.readBody(paused.id, 'response')).toString(), 'echo GET /resp ');

  const bad = await api('POST', `/api/flows/${paused.id}/resume`, { status: 42 });
  assert.equal(bad.status, 400);
  assert.equal((bad.json as { field: string }).field, 'status');
  assert.equal((await api('POST', `/api/flows/${paused.id}/resume`, { status: 418, body: { base64: Buffer.from('short and stout').toString('base64') } })).status, 200);

  const r = await client;
  assert.equal(r.code, 0, r.stderr);
  const { body, status } = curlStatus(r);
  assert.equal(status, 418);
  assert.match(body, /content-length: 15\r\n/i);
  assert.match(body, /x-upstream: yes/i);
  assert.ok(body.endsWith('\r\n\r\nshort and stout'), body);
  await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'complete');
  assert.equal((await proxy.store.readBody(paused.id, 'response')).toString(), 'short and stout');
});

test('abort at a breakpoint answers 502 saying so, and the keep-alive connection serves the next request', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: '/doomed', action: { type: 'pause', at: 'both' } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const get = (path: string): Promise<{ status: number; body: string; reused: boolean; error: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: proxy.proxyPort, path: `http://127.0.0.1:${up.http.port}${path}`, agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket, error: res.headers['x-mitmscope-error'] as string | undefined }));
      });
      req.on('error', reject);
    });

  const first = get('/doomed');
  const paused = await flowWhere(proxy, (f) => f.state === 'paused');
  assert.deepEqual(await api('POST', `/api/flows/${paused.id}/abort`), { status: 200, json: { aborted: paused.id, at: 'request' } });
  const aborted = await first;
  assert.equal(aborted.status, 502);
  assert.match(aborted.body, /aborted in mitmscope/);
  assert.equal(aborted.error, 'MITM_ERR_ABORTED');
  assert.equal(up.seen.length, 0);
  const failed = await flowWhere(proxy, (f) => f.id === paused.id && f.state === 'error');
  assert.equal(failed.error?.code, 'MITM_ERR_ABORTED');
  assert.equal((await api('POST', `/api/flows/${paused.id}/abort`)).status, 409);

  const next = await get('/fine');
  assert.deepEqual({ status: next.status, body: next.body, reused: next.reused }, { status: 200, body: 'echo GET /fine ', reused: true });
});

test('a paused exchange times out with a 504 that says so', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t, { pauseTimeout: 200 });
  await api('POST', '/api/rules', { match: 'host:localhost', action: { type: 'pause' } });
  const r = await curl(proxy, `https://localhost:${up.https.port}/slow`, ['-D', '-']);
  const { body, status } = curlStatus(r);
  assert.equal(status, 504);
  assert.match(body, /x-mitmscope-error: MITM_ERR_PAUSE_TIMEOUT/i);
  assert.match(body, /mitmscope: paused in mitmscope at the request breakpoint for 200 ms without being resumed/);
  assert.equal(up.seen.length, 0);
  assert.equal(proxy.breakpoints.size, 0);
});

test('paused flows queue independently and a client that leaves wakes its waiter', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const { proxy, api } = await startRulesProxy(t);
  await api('POST', '/api/rules', { match: 'path:/q/', action: { type: 'pause' } });
  const a = curl(proxy, `http://127.0.0.1:${up.http.port}/q/a`);
  const pa = await flowWhere(proxy, (f) => f.state === 'paused' && f.request.url.endsWith('/q/a'));
  const b = curl(proxy, `http://127.0.0.1:${up.http.port}/q/b`);
  const pb = await flowWhere(proxy, (f) => f.state === 'paused' && f.request.url.endsWith('/q/b'));
  assert.equal(proxy.breakpoints.size, 2);
  await api('POST', `/api/flows/${pb.id}/resume`);
  assert.equal(curlStatus(await b).body, 'echo GET /q/b ');
  assert.equal(proxy.breakpoints.phaseOf(pa.id), 'request', 'the first is still paused');
  await api('POST', `/api/flows/${pa.id}/resume`, { url: `http://127.0.0.1:${up.http.port}/q/a-edited` });
  assert.equal(curlStatus(await a).body, 'echo GET /q/a-edited ');

  // A client that gives up while paused: the waiter is woken, the flow fails, nothing leaks.
  const gone = new AbortController();
  const req = http.get({ host: '127.0.0.1', port: proxy.proxyPort, path: `http://127.0.0.1:${up.http.port}/q/gone`, signal: gone.signal, agent: false });
  req.on('error', () => {});
  const pg = await flowWhere(proxy, (f) => f.state === 'paused' && f.request.url.endsWith('/q/gone'));
  gone.abort();
  const failed = await flowWhere(proxy, (f) => f.id === pg.id && f.state === 'error');
  assert.equal(failed.paused, null);
  assert.equal(proxy.breakpoints.size, 0);
  assert.equal(up.seen.filter((s) => s.url === '/q/gone').length, 0);
});

test('no client timeout fires while a request is paused longer than the header timeout', { skip: requireTools('curl') }, async (t) => {
  const up = await startUpstreams(t);
  const HEADER_TIMEOUT_MS = 200;
  const { proxy, api } = await startRulesProxy(t, { clientHeadersTimeout: HEADER_TIMEOUT_MS });
  await api('POST', '/api/rules', { match: '/patient', action: { type: 'pause' } });
  const client = curl(proxy, `https://localhost:${up.https.port}/patient`);
  const paused = await flowWhere(proxy, (f) => f.state === 'paused');
  // The thing under test is time passing: several header-timeout periods while paused.
  await sleep(HEADER_TIMEOUT_MS * 5);
  await api('POST', `/api/flows/${paused.id}/resume`);
  const r = await client;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(curlStatus(r).body, 'echo GET /patient ');
});
