import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { connect as netConnect, createServer as netServer, type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from 'ws';
import { TestCa } from '../helpers/pki.js';
import { run, startHttpsServer, startProxy, tempDir, type TestProxy } from '../helpers/servers.js';
import { headerValue, type Flow } from '../../src/capture/flow.js';
import type { StoreEvent } from '../../src/capture/store.js';
import { requireTools } from '../helpers/tools.js';

/** The proxy's default --max-body: message copies are cut there. */
const MAX_BODY = 1024 * 1024;
const BIG_MESSAGE_BYTES = 5 * 1000 * 1000;
const REFUSAL_BODY = 'no websockets for you\n';

interface Upstreams {
  tlsPort: number;
  plainPort: number;
  /** Emits `closed` (path, code) when a server-side socket closes. */
  events: EventEmitter;
  close(): Promise<void>;
}

/**
 * One `ws` application behind TLS and in plain HTTP: `/refuse` answers 403 with a body,
 * `/refuse-chunked` the same chunked, `/silent` never answers, `/deflate` negotiates
 * permessage-deflate, everything else echoes; the message `drop` makes the server destroy its
 * socket, `ping-me` makes it ping, `close-me` makes it close with 4001.
 */
async function startUpstreams(ca: TestCa): Promise<Upstreams> {
  const pair = ca.issue(['localhost', '127.0.0.1']);
  const pickB = (protocols: Set<string>): string | false => (protocols.has('b') ? 'b' : false);
  const plain = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: pickB });
  const deflate = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold: 0 } });
  const events = new EventEmitter();
  for (const wss of [plain, deflate]) {
    wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
      ws.once('close', (code: number) => events.emit('closed', req.url, code));
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const text = isBinary ? '' : data.toString();
        if (text === 'drop') return ws.terminate();
        if (text === 'ping-me') return ws.ping(Buffer.from('from server'));
        if (text === 'close-me') return ws.close(4001, 'server bye');
        ws.send(data as Buffer, { binary: isBinary });
      });
    });
  }
  const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (req.url === '/refuse') {
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: policy\r\nContent-Length: ${REFUSAL_BODY.length}\r\n\r\n${REFUSAL_BODY}`);
      return;
    }
    // Never answers: the proxy's header timeout must.
    if (req.url === '/silent') return;
    if (req.url === '/refuse-chunked') {
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nno ws\r\n0\r\n\r\n`);
      return;
    }
    const wss = req.url === '/deflate' ? deflate : plain;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  const onRequest = (req: IncomingMessage, res: http.ServerResponse): void => {
    res.end(`plain ${req.url} upgrade=${req.headers.upgrade ?? 'none'}`);
  };
  const secure = https.createServer({ key: pair.keyPem, cert: pair.certPem }, onRequest);
  const insecure = http.createServer(onRequest);
  const sockets = new Set<Socket>();
  for (const server of [secure, insecure]) {
    server.on('upgrade', onUpgrade);
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }
  return {
    tlsPort: (secure.address() as AddressInfo).port,
    plainPort: (insecure.address() as AddressInfo).port,
    events,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([secure, insecure].map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}

/** A TCP tunnel through the proxy's CONNECT. */
function connectTunnel(proxy: TestProxy, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = http.request({ method: 'CONNECT', host: '127.0.0.1', port: proxy.proxyPort, path: authority });
    req.once('connect', (res: IncomingMessage, socket: Socket) => {
      if (res.statusCode === 200) resolve(socket);
      else reject(new Error(`CONNECT answered ${res.statusCode}`));
    });
    req.once('error', reject);
    req.end();
  });
}

/** `ws` has no proxy support: it is handed a TLS connection through a CONNECT tunnel. */
async function wssClient(proxy: TestProxy, caPem: string, port: number, path: string, protocols: string[] = [], options: ClientOptions = {}): Promise<WebSocket> {
  const tunnel = await connectTunnel(proxy, `localhost:${port}`);
  const secure = tls.connect({ socket: tunnel, servername: 'localhost', ca: caPem });
  const createConnection = (() => secure) as unknown as ClientOptions['createConnection'];
  return new WebSocket(`wss://localhost:${port}${path}`, protocols, { perMessageDeflate: false, ...options, createConnection });
}

/** `ws` writes origin-form requests; a plain proxy wants the absolute URI, set before the request is sent. */
function wsClientViaPlainProxy(proxy: TestProxy, port: number, path: string): WebSocket {
  const createConnection = (() => netConnect({ host: '127.0.0.1', port: proxy.proxyPort })) as unknown as ClientOptions['createConnection'];
  return new WebSocket(`ws://127.0.0.1:${port}${path}`, {
    perMessageDeflate: false,
    createConnection,
    finishRequest: (request) => {
      request.path = `http://127.0.0.1:${port}${path}`;
      request.end();
    },
  });
}

async function opened(ws: WebSocket): Promise<void> {
  await once(ws, 'open');
}

/** Sends and waits for the echo. */
async function echo(ws: WebSocket, data: string | Buffer): Promise<Buffer> {
  const reply = once(ws, 'message') as Promise<[Buffer, boolean]>;
  ws.send(data, { binary: typeof data !== 'string' });
  const [received] = await reply;
  return received;
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

/** The proxy settles a flow asynchronously after the sockets close. */
async function settledFlow(proxy: TestProxy, path: string): Promise<Flow> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const flow = proxy.store.list().find((f) => f.kind === 'websocket' && new URL(f.request.url).pathname === path);
    if (flow && flow.state !== 'pending') return flow;
    if (Date.now() > deadline) throw new Error(`no settled websocket flow for ${path}: ${flow ? flow.state : 'none'}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function unexpectedResponse(ws: WebSocket): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req: http.ClientRequest, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        ws.terminate();
      });
    });
  });
}

describe('WebSocket interception', () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let upstreams: Upstreams;
  let proxy: TestProxy;
  let proxyCa: string;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    upstreams = await startUpstreams(ca);
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], connectTimeout: 3000 });
    proxyCa = await readFile(join(proxy.caDir, 'ca.pem'), 'utf8');
  });
  after(async () => {
    await proxy?.cleanup();
    await upstreams?.close();
    await files?.remove();
  });

  test('a wss client exchanges text, binary, 5 MB, ping/pong and a 4000 close, and the flow records each message in order', async (t) => {
    const events: StoreEvent[] = [];
    t.after(proxy.store.subscribe((e) => events.push(e)));
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/echo');
    t.after(() => ws.terminate());
    await opened(ws);

    assert.equal((await echo(ws, 'hello ☕')).toString(), 'hello ☕');
    assert.deepEqual(await echo(ws, Buffer.from([0, 1, 2, 255])), Buffer.from([0, 1, 2, 255]));
    const big = randomBytes(BIG_MESSAGE_BYTES);
    assert.ok((await echo(ws, big)).equals(big), 'the 5 MB message comes back intact');
    const pong = once(ws, 'pong') as Promise<[Buffer]>;
    ws.ping(Buffer.from('are you there'));
    assert.equal((await pong)[0].toString(), 'are you there');
    const serverPing = once(ws, 'ping') as Promise<[Buffer]>;
    ws.send('ping-me');
    assert.equal((await serverPing)[0].toString(), 'from server');
    const done = closed(ws);
    ws.close(4000, 'done here');
    assert.deepEqual(await done, { code: 4000, reason: 'done here' });

    const flow = await settledFlow(proxy, '/echo');
    assert.equal(flow.state, 'complete', JSON.stringify(flow.error));
    assert.equal(flow.scheme, 'wss');
    assert.equal(flow.request.url, `wss://localhost:${upstreams.tlsPort}/echo`);
    assert.equal(flow.response?.status, 101);
    assert.equal(headerValue(flow.request.headers, 'sec-websocket-version'), '13');
    assert.ok(flow.request.headers.some(([name]) => name === 'Sec-WebSocket-Key'), 'request headers keep their wire case');
    const ws0 = flow.websocket!;
    assert.deepEqual(
      ws0.messages.map((m) => [m.type, m.opcode, m.size]),
      [
        ['send', 1, Buffer.byteLength('hello ☕')],
        ['receive', 1, Buffer.byteLength('hello ☕')],
        ['send', 2, 4],
        ['receive', 2, 4],
        ['send', 2, BIG_MESSAGE_BYTES],
        ['receive', 2, BIG_MESSAGE_BYTES],
        ['send', 9, 13],
        ['receive', 10, 13],
        ['send', 1, 7],
        ['receive', 9, 11],
        ['send', 10, 11],
        ['send', 8, 11],
        ['receive', 8, 11],
      ],
    );
    const m = ws0.messages;
    assert.equal(m[0]!.data, 'hello ☕');
    assert.equal(m[2]!.data, 'AAEC/w==');
    assert.equal(m[4]!.truncated, true);
    assert.ok(Buffer.from(m[4]!.data, 'base64').equals(big.subarray(0, MAX_BODY)), 'the copy is the first maxBody bytes');
    assert.equal(m[7]!.data, 'are you there');
    assert.equal(m[11]!.data, '4000 done here');
    for (let i = 1; i < m.length; i++) assert.ok(m[i]!.time >= m[i - 1]!.time, 'times never go backwards');
    assert.ok(Math.abs(m[0]!.time - Date.now() / 1000) < 60, 'times are epoch seconds');
    assert.deepEqual([ws0.closeCode, ws0.closeReason, ws0.closedBy], [4000, 'done here', 'client']);
    assert.equal(flow.error, null);
    assert.ok(flow.duration !== null && flow.duration > 0);
    assert.ok(flow.timings.connect >= 0 && flow.timings.ssl >= 0, 'set-up timings are measured');

    const live = events.filter((e): e is Extract<StoreEvent, { type: 'ws-message' }> => e.type === 'ws-message' && e.flowId === flow.id);
    assert.deepEqual(live.map((e) => e.index), m.map((_, i) => i), 'every message reached the event stream, in order');
    assert.ok(live[4]!.message.data.length <= 4096 && live[4]!.message.truncated, 'live events carry a preview');
    assert.ok(events.some((e) => e.type === 'flow-update' && e.flow.id === flow.id && e.flow.state === 'complete'));
  });

  test('both TLS legs of a wss flow carry their handshake events', async (t) => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/tls');
    t.after(() => ws.terminate());
    await opened(ws);
    const done = closed(ws);
    ws.close(1000);
    await done;
    const flow = await settledFlow(proxy, '/tls');
    const client = flow.clientConnection?.tls;
    const server = flow.serverConnection?.tls;
    assert.ok(client && server);
    assert.ok(client.events.some((e) => e.type === 'ClientHello' && e.from === 'client'));
    assert.ok(server.events.some((e) => e.type === 'ClientHello' && e.from === 'proxy'));
    assert.ok(server.events.some((e) => e.type === 'ServerHello' && e.from === 'server'));
    assert.equal(server.version, 'TLSv1.2');
    assert.equal(flow.serverIPAddress, '127.0.0.1');
    assert.deepEqual([flow.websocket?.closeCode, flow.websocket?.closeReason, flow.websocket?.closedBy], [1000, null, 'client']);
  });

  test('the subprotocol is negotiated end to end: the client offers a and b, the server picks b', async (t) => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/protocols', ['a', 'b']);
    t.after(() => ws.terminate());
    await opened(ws);
    assert.equal(ws.protocol, 'b');
    const done = closed(ws);
    ws.close(1000);
    await done;
    const flow = await settledFlow(proxy, '/protocols');
    assert.equal(headerValue(flow.request.headers, 'sec-websocket-protocol'), 'a,b');
    assert.equal(flow.websocket?.protocol, 'b');
  });

  test('permessage-deflate wanted by both ends is negotiated end to end, and the flow records inflated payloads', async (t) => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/deflate', [], { perMessageDeflate: { threshold: 0 } });
    t.after(() => ws.terminate());
    await opened(ws);
    assert.match(ws.extensions, /permessage-deflate/);
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(500);
    const sent = [long, 'hello deflate', long, 'x'];
    for (const text of sent) assert.equal((await echo(ws, text)).toString(), text);
    const done = closed(ws);
    ws.close(1000, 'bye');
    await done;
    const flow = await settledFlow(proxy, '/deflate');
    assert.match(headerValue(flow.response!.headers, 'sec-websocket-extensions') ?? '', /permessage-deflate/);
    assert.match(flow.websocket?.extensions ?? '', /permessage-deflate/);
    assert.deepEqual(flow.notes, []);
    const data = flow.websocket!.messages.filter((m) => m.opcode === 1);
    assert.deepEqual(
      data.map((m) => [m.type, m.data, m.size, m.truncated]),
      sent.flatMap((text) => [
        ['send', text, text.length, false],
        ['receive', text, text.length, false],
      ]),
    );
  });

  test('ws:// through the plain proxy (absolute-URI upgrade) relays and records messages', async (t) => {
    const ws = wsClientViaPlainProxy(proxy, upstreams.plainPort, '/plain');
    t.after(() => ws.terminate());
    await opened(ws);
    assert.equal((await echo(ws, 'over plain http')).toString(), 'over plain http');
    const done = closed(ws);
    ws.close(1001, 'going');
    assert.deepEqual(await done, { code: 1001, reason: 'going' });
    const flow = await settledFlow(proxy, '/plain');
    assert.equal(flow.scheme, 'ws');
    assert.equal(flow.request.url, `ws://127.0.0.1:${upstreams.plainPort}/plain`);
    assert.equal(flow.state, 'complete');
    assert.deepEqual(
      flow.websocket!.messages.map((m) => [m.type, m.opcode, m.data]),
      [
        ['send', 1, 'over plain http'],
        ['receive', 1, 'over plain http'],
        ['send', 8, '1001 going'],
        ['receive', 8, '1001 going'],
      ],
    );
    assert.equal(flow.clientConnection?.tls, null);
    assert.equal(flow.serverConnection?.tls, null);
  });

  test('a refused upgrade reaches the client unchanged (status, headers, body) and is recorded', async () => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/refuse');
    const answer = await unexpectedResponse(ws);
    assert.equal(answer.status, 403);
    assert.equal(answer.headers['x-why'], 'policy');
    assert.equal(answer.body, REFUSAL_BODY);
    const flow = await settledFlow(proxy, '/refuse');
    assert.equal(flow.state, 'complete');
    assert.equal(flow.response?.status, 403);
    assert.equal((await proxy.store.readBody(flow.id, 'response')).toString(), REFUSAL_BODY);
    assert.equal(flow.websocket, null);
  });

  test('a chunked refusal through the plain proxy keeps its chunked framing', async () => {
    const ws = wsClientViaPlainProxy(proxy, upstreams.plainPort, '/refuse-chunked');
    const answer = await unexpectedResponse(ws);
    assert.deepEqual([answer.status, answer.headers['transfer-encoding'], answer.body], [403, 'chunked', 'no ws']);
    const flow = await settledFlow(proxy, '/refuse-chunked');
    assert.equal((await proxy.store.readBody(flow.id, 'response')).toString(), 'no ws');
  });

  test('a server that drops its connection without a close frame: the client sees 1006 and the flow records it', async (t) => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/drop');
    t.after(() => ws.terminate());
    await opened(ws);
    const done = closed(ws);
    ws.send('drop');
    assert.equal((await done).code, 1006);
    const flow = await settledFlow(proxy, '/drop');
    assert.equal(flow.state, 'error');
    assert.deepEqual([flow.websocket?.closeCode, flow.websocket?.closedBy], [1006, 'server']);
    assert.equal(flow.error?.code, 'MITM_ERR_UPSTREAM_RESET');
    assert.equal(flow.error?.stage, 'upstream-response');
    assert.deepEqual(flow.websocket?.messages.map((m) => [m.type, m.data]), [['send', 'drop']]);
  });

  test('a server-initiated close reaches the client with its code and reason, and is recorded as the server’s', async (t) => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/server-close');
    t.after(() => ws.terminate());
    await opened(ws);
    const done = closed(ws);
    ws.send('close-me');
    assert.deepEqual(await done, { code: 4001, reason: 'server bye' });
    const flow = await settledFlow(proxy, '/server-close');
    assert.equal(flow.state, 'complete');
    assert.deepEqual([flow.websocket?.closeCode, flow.websocket?.closeReason, flow.websocket?.closedBy], [4001, 'server bye', 'server']);
    assert.deepEqual(
      flow.websocket?.messages.map((m) => [m.type, m.opcode, m.data]),
      [
        ['send', 1, 'close-me'],
        ['receive', 8, '4001 server bye'],
        ['send', 8, '4001 server bye'],
      ],
    );
  });

  test('a client that drops its connection without a close frame: the server sees 1006 and the flow records it', async (t) => {
    const ws = await wssClient(proxy, proxyCa, upstreams.tlsPort, '/client-drop');
    await opened(ws);
    t.after(() => ws.terminate());
    const serverSide = new Promise<number>((resolve) => {
      const onClosed = (path: string, code: number): void => {
        if (path !== '/client-drop') return;
        upstreams.events.off('closed', onClosed);
        resolve(code);
      };
      upstreams.events.on('closed', onClosed);
    });
    await echo(ws, 'before the drop');
    ws.terminate();
    assert.equal(await serverSide, 1006);
    const flow = await settledFlow(proxy, '/client-drop');
    assert.equal(flow.state, 'error');
    assert.deepEqual([flow.websocket?.closeCode, flow.websocket?.closedBy], [1006, 'client']);
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_CLIENT_ABORTED', 'client-request']);
  });

  test('an upstream that never answers the upgrade gets a 504 after the header timeout', async (t) => {
    const quick = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], headersTimeout: 300 });
    t.after(() => quick.cleanup());
    const quickCa = await readFile(join(quick.caDir, 'ca.pem'), 'utf8');
    const ws = await wssClient(quick, quickCa, upstreams.tlsPort, '/silent');
    const answer = await unexpectedResponse(ws);
    assert.equal(answer.status, 504);
    assert.equal(answer.headers['x-mitmscope-error'], 'MITM_ERR_UPSTREAM_TIMEOUT');
    assert.match(answer.body, /did not answer the WebSocket upgrade within 300 ms/);
    const flow = await settledFlow(quick, '/silent');
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_UPSTREAM_TIMEOUT', 'upstream-response']);
  });

  test('an unreachable upstream answers the upgrade with 502 and the reason, as for HTTP', async () => {
    const port = await closedPort();
    const ws = await wssClient(proxy, proxyCa, port, '/nowhere');
    const answer = await unexpectedResponse(ws);
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['x-mitmscope-error'], 'MITM_ERR_UPSTREAM_CONNECT');
    assert.match(answer.body, /^mitmscope: TCP connection to localhost:\d+ failed: connection refused/);
    const flow = await settledFlow(proxy, '/nowhere');
    assert.deepEqual([flow.state, flow.error?.code, flow.error?.stage], ['error', 'MITM_ERR_UPSTREAM_CONNECT', 'connect']);
  });

  test('an upstream whose certificate has expired answers the upgrade with 502, and the flow keeps the server leg', async (t) => {
    const expired = await startHttpsServer(ca.issue(['localhost'], { expired: true }), (_req, res) => res.end('not reached'));
    t.after(() => expired.close());
    const ws = await wssClient(proxy, proxyCa, expired.port, '/expired');
    const answer = await unexpectedResponse(ws);
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['x-mitmscope-error'], 'MITM_ERR_UPSTREAM_TLS');
    const flow = await settledFlow(proxy, '/expired');
    const server = flow.serverConnection?.tls;
    const ladder = (server?.events ?? []).map((e) => `${e.from} ${e.type}`);
    assert.ok(ladder.includes('server Certificate'), `server leg: ${ladder.join(', ') || 'none'}`);
    assert.equal(server?.events.at(-1)?.type, 'Error');
    assert.match(server?.error ?? '', /certificate has expired/);
  });

  test('a non-WebSocket upgrade (h2c) through the plain proxy is served as a plain request', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: proxy.proxyPort,
        path: `http://127.0.0.1:${upstreams.plainPort}/h2c`,
        headers: { Connection: 'Upgrade, HTTP2-Settings', Upgrade: 'h2c', 'HTTP2-Settings': 'AAMAAABkAAQAAP__' },
      });
      req.once('response', (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.once('end', () => resolve(text));
      });
      req.once('upgrade', () => reject(new Error('the proxy must not upgrade to h2c')));
      req.once('error', reject);
      req.end();
    });
    assert.equal(body, 'plain /h2c upgrade=none');
  });

  test('curl asking for h2c inside a plain-HTTP CONNECT tunnel gets an HTTP/1.1 answer, twice on one connection', { skip: requireTools('curl') }, async () => {
    const url = `http://127.0.0.1:${upstreams.plainPort}/h2c-tunnel`;
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--proxytunnel', '--http2', '--max-time', '20', '-w', ' %{http_version} %{num_connects}\n', url, url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'plain /h2c-tunnel upgrade=none 1.1 1\nplain /h2c-tunnel upgrade=none 1.1 0\n');
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
