import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { gzipSync, deflateSync, brotliCompressSync } from 'node:zlib';
import { createServer, type AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { TestCa } from '../helpers/pki.js';
import { curl, curlStatus, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import type { FlowJson, FlowSummary } from '../../src/capture/flow.js';
import { requireTools } from '../helpers/tools.js';

const TOKEN = 'capture-test-token';
const BIG = Buffer.alloc(5000, 'x');

interface LiveBatch {
  type: string;
  events?: { type: string; flow?: FlowSummary }[];
}

describe('capture through the proxy: REST API and live feed', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let server: Listening;
  let api = '';
  const live: LiveBatch[] = [];
  let ws: WebSocket;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    server = await startHttpsServer(ca.issue(['localhost']), (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', (): void => {
        if (req.url === '/503') {
          res.writeHead(503, { 'Content-Type': 'text/plain' });
          res.end('down for maintenance');
          return;
        }
        if (req.url === '/big') {
          res.end(BIG);
          return;
        }
        if (req.url === '/reset') {
          res.writeHead(200, { 'Content-Length': '100000' });
          res.write(Buffer.alloc(1000, 'y'));
          setImmediate(() => req.socket.destroy());
          return;
        }
        const enc = req.url?.slice(1);
        const text = Buffer.from('{"hello":"world"}');
        if (enc === 'gzip' || enc === 'deflate' || enc === 'br') {
          const body = enc === 'gzip' ? gzipSync(text) : enc === 'deflate' ? deflateSync(text) : brotliCompressSync(text);
          res.writeHead(200, { 'Content-Encoding': enc, 'Content-Type': 'application/json' });
          res.end(body);
          return;
        }
        res.setHeader('X-Echo-Length', String(Buffer.concat(chunks).length));
        res.setHeader('Content-Type', 'text/plain');
        res.end(`echo ${Buffer.concat(chunks).toString()}`);
      });
    });
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], ui: true, uiPort: 0, token: TOKEN, maxBody: 1000 });
    api = proxy.dashboardUrl ?? '';
    ws = new WebSocket(`${api.replace('http', 'ws')}/api/live?token=${TOKEN}`);
    ws.on('message', (data) => live.push(JSON.parse(data.toString()) as LiveBatch));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
  });
  after(async () => {
    ws.close();
    await proxy.cleanup();
    await server.close();
    await files.remove();
  });

  async function get<T>(path: string): Promise<T> {
    const r = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    return (await r.json()) as T;
  }

  async function flowByPath(path: string): Promise<FlowJson> {
    const list = await get<FlowSummary[]>('/api/flows');
    const s = list.filter((f) => f.url === `https://localhost:${server.port}${path}`).at(-1);
    assert.ok(s, `a flow for ${path}`);
    return get<FlowJson>(`/api/flows/${s.id}`);
  }

  /** Resolves once the live feed has reported a finished flow for `url`. */
  function liveDone(url: string): Promise<void> {
    return new Promise((resolve) => {
      const check = (): boolean =>
        live.some((m) => m.events?.some((e) => e.type === 'flow-update' && e.flow?.url === url && e.flow.state !== 'pending'));
      if (check()) return resolve();
      const onMsg = (): void => {
        if (check()) {
          ws.off('message', onMsg);
          resolve();
        }
      };
      ws.on('message', onMsg);
    });
  }

  test('a POST appears in the API with wire-order headers, captured bodies, measured timings and both handshakes', async () => {
    const url = `https://localhost:${server.port}/post`;
    const done = liveDone(url);
    // HTTP/1.1: header case is what this checks, and HTTP/2 lowercases every name.
    const r = await curl(proxy, url, ['--http1.1', '-H', 'X-Zeta: 1', '-H', 'x-Alpha: 2', '--data-binary', 'payload-123']);
    assert.equal(curlStatus(r).body, 'echo payload-123');
    await done;
    const flow = await flowByPath('/post');
    assert.equal(flow.state, 'complete');
    assert.equal(flow.request.method, 'POST');
    const names = flow.request.headers.map(([k]) => k);
    assert.ok(names.indexOf('X-Zeta') >= 0 && names.indexOf('X-Zeta') < names.indexOf('x-Alpha'), `wire order and case kept: ${names.join(',')}`);
    assert.equal(flow.request.bodySize, 11);
    assert.equal(flow.response?.status, 200);
    assert.deepEqual(flow.response?.headers.find(([k]) => k === 'X-Echo-Length'), ['X-Echo-Length', '11']);
    const body = await fetch(`${api}/api/flows/${flow.id}/request/body`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(await body.text(), 'payload-123');
    for (const phase of ['dns', 'connect', 'ssl', 'send', 'wait', 'receive'] as const) assert.ok(flow.timings[phase] >= 0, `${phase} measured`);
    assert.ok(flow.tls.client?.events.some((e) => e.type === 'ClientHello' && e.from === 'client'));
    assert.ok(flow.tls.server?.events.some((e) => e.type === 'ServerHello' && e.from === 'server'));
  });

  test('the live feed reports new flows and their updates in order', async () => {
    const url = `https://localhost:${server.port}/order`;
    const done = liveDone(url);
    await curl(proxy, url);
    await done;
    const events = live.flatMap((m) => m.events ?? []).filter((e) => e.flow?.url === url);
    assert.equal(events[0]?.type, 'flow');
    assert.equal(events.at(-1)?.type, 'flow-update');
    assert.equal(events.at(-1)?.flow?.status, 200);
  });

  test('a 503 upstream is a complete flow with its status', async () => {
    const url = `https://localhost:${server.port}/503`;
    const done = liveDone(url);
    const r = await curl(proxy, url);
    assert.equal(curlStatus(r).status, 503);
    await done;
    const flow = await flowByPath('/503');
    assert.equal(flow.state, 'complete');
    assert.equal(flow.response?.status, 503);
  });

  test('a refused upstream is an error flow at the connect stage', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const url = `https://localhost:${port}/refused`;
    const done = liveDone(url);
    const r = await curl(proxy, url);
    assert.equal(curlStatus(r).status, 502);
    await done;
    const list = await get<FlowSummary[]>('/api/flows');
    const s = list.find((f) => f.url === url);
    const flow = await get<FlowJson>(`/api/flows/${s?.id}`);
    assert.equal(flow.state, 'error');
    assert.equal(flow.error?.stage, 'connect');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_CONNECT');
  });

  test('a reset mid-body is an error flow that says where, and the client sees the truncation', async () => {
    const url = `https://localhost:${server.port}/reset`;
    const done = liveDone(url);
    const r = await curl(proxy, url);
    assert.notEqual(r.code, 0, 'curl reports the broken transfer');
    await done;
    const flow = await flowByPath('/reset');
    assert.equal(flow.state, 'error');
    assert.equal(flow.error?.stage, 'upstream-response');
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_RESET');
    assert.match(flow.error?.message ?? '', /after 1000 bytes of the response body/);
  });

  test('--max-body keeps a capped copy with the true size and a truncation flag', async () => {
    const url = `https://localhost:${server.port}/big`;
    const done = liveDone(url);
    const r = await curl(proxy, url);
    assert.equal(curlStatus(r).body.length, BIG.length, 'the client still gets everything');
    await done;
    const flow = await flowByPath('/big');
    assert.equal(flow.response?.bodySize, 5000);
    assert.equal(flow.response?.bodyTruncated, true);
    const body = await fetch(`${api}/api/flows/${flow.id}/response/body`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal((await body.arrayBuffer()).byteLength, 1000);
  });

  for (const enc of ['gzip', 'deflate', 'br']) {
    test(`?decode=1 undoes ${enc}`, async () => {
      const url = `https://localhost:${server.port}/${enc}`;
      const done = liveDone(url);
      await curl(proxy, url);
      await done;
      const flow = await flowByPath(`/${enc}`);
      const raw = await fetch(`${api}/api/flows/${flow.id}/response/body`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.notEqual(await raw.text(), '{"hello":"world"}');
      const decoded = await fetch(`${api}/api/flows/${flow.id}/response/body?decode=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(await decoded.text(), '{"hello":"world"}');
    });
  }
});
