import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestCa } from '../helpers/pki.js';
import { startHttpServer, startHttpsServer, startProxyTrusting } from '../helpers/servers.js';
import { connect as netConnect } from 'node:net';
import { exchange, tlsThroughProxy } from '../helpers/tunnel.js';
import { flowWhere } from '../helpers/flows.js';
import { pair as rulesPair, startRulesProxy } from '../rules/harness.js';
import { connectionOptions, dropHopByHop, hopByHopNames, withoutHopByHop, REQUEST_HOP_BY_HOP, RESPONSE_HOP_BY_HOP } from '../../src/proxy/hop-by-hop.js';

/** Writes `request` and resolves with what came back once it ends with `ending`; the socket stays open. */
function replyEndingWith(socket: Socket, request: string, ending: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString('latin1');
      if (out.endsWith(ending)) {
        socket.off('data', onData);
        resolve(out);
      }
    };
    socket.on('data', onData);
    socket.write(request);
  });
}

describe('hop-by-hop fields, on headers', () => {
  test('Connection options are read from every Connection line, trimmed and lower-cased', () => {
    assert.deepEqual([...connectionOptions(' Close , X-Hop,,')], ['close', 'x-hop']);
    assert.deepEqual([...connectionOptions(['keep-alive', 'X-A, x-b'])], ['keep-alive', 'x-a', 'x-b']);
    assert.equal(connectionOptions(undefined).size, 0);
  });

  test('a request loses Connection, what it names and the fixed hop fields; the rest stays', () => {
    const headers: http.IncomingHttpHeaders = { connection: 'close, X-Hop', 'x-hop': '1', 'keep-alive': 'timeout=5', te: 'trailers', 'proxy-connection': 'keep-alive', accept: '*/*', host: 'example.test' };
    dropHopByHop(headers, REQUEST_HOP_BY_HOP);
    assert.deepEqual(headers, { accept: '*/*', host: 'example.test' });
  });

  test('a response keeps end-to-end fields such as Upgrade and Trailer', () => {
    const headers: http.IncomingHttpHeaders = { connection: 'keep-alive', 'keep-alive': 'timeout=5', trailer: 'x-sum', upgrade: 'h2c', 'content-type': 'text/plain' };
    dropHopByHop(headers, RESPONSE_HOP_BY_HOP);
    assert.deepEqual(headers, { trailer: 'x-sum', upgrade: 'h2c', 'content-type': 'text/plain' });
  });

  test('wire-order pairs name their hop fields in any case, and lose them in order', () => {
    const pairs: [string, string][] = [['CONNECTION', 'X-One'], ['Accept', '*/*'], ['X-ONE', '1'], ['Connection', 'x-two'], ['x-Two', '2'], ['Keep-Alive', '5'], ['Host', 'a']];
    assert.deepEqual(hopByHopNames(pairs, ['connection']).sort(), ['connection', 'x-one', 'x-two']);
    assert.deepEqual(withoutHopByHop(pairs, RESPONSE_HOP_BY_HOP), [['Accept', '*/*'], ['Host', 'a']]);
  });
});

describe('hop-by-hop fields through the proxy', () => {
  test("a client's Connection: close ends its own connection; the upstream one is kept and reused by the next client", async (t) => {
    const ca = new TestCa();
    const pair = ca.issue(['localhost']);
    const seen: { headers: http.IncomingHttpHeaders; socket: Socket }[] = [];
    const server = await startHttpsServer(pair, (req, res) => {
      seen.push({ headers: req.headers, socket: req.socket });
      // The server's own hop fields: they describe its connection with the proxy only.
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'keep-alive, X-Server-Hop', 'X-Server-Hop': 'secret', 'Keep-Alive': 'timeout=30' });
      res.end(`request ${seen.length}`);
    });
    t.after(() => server.close());
    const proxy = await startProxyTrusting(ca.certPem);
    t.after(() => proxy.cleanup());
    const caPem = await readFile(join(proxy.caDir, 'ca.pem'), 'utf8');

    const replies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
      // No `until`: the reply is whole only when the proxy closes the client's connection, as asked.
      replies.push(await exchange(socket, `GET /${i} HTTP/1.1\r\nHost: localhost:${server.port}\r\nConnection: close, X-Client-Hop\r\nX-Client-Hop: secret\r\nKeep-Alive: timeout=1\r\n\r\n`));
    }

    assert.equal(seen.length, 2);
    for (const { headers } of seen) {
      assert.equal(headers['x-client-hop'], undefined, 'a field the client named in Connection is not forwarded');
      assert.equal(headers['keep-alive'], undefined);
      assert.equal(headers.connection, 'keep-alive', "the client's close is not the upstream connection's");
    }
    assert.equal(seen[0]!.socket, seen[1]!.socket, 'the second client connection rode the pooled upstream connection');

    for (const [i, reply] of replies.entries()) {
      assert.match(reply, /^HTTP\/1\.1 200 /);
      assert.match(reply, /\r\nconnection: close\r\n/i, 'the client is told its connection closes');
      assert.doesNotMatch(reply, /x-server-hop|keep-alive/i, "the server's hop fields stay on its hop");
      assert.match(reply, new RegExp(`\\r\\nrequest ${i + 1}\\r\\n0\\r\\n\\r\\n$`), 'a whole chunked body, then the close');
    }

    // The record shows what each side sent.
    const flow = await flowWhere(proxy, (f) => f.port === server.port && f.state === 'complete' && f.request.url.endsWith('/1'));
    assert.ok(flow.request.headers.some(([k, v]) => k === 'X-Client-Hop' && v === 'secret'));
    assert.ok(flow.response?.headers.some(([k, v]) => k === 'X-Server-Hop' && v === 'secret'));
  });

  test("a server's Connection: close does not close the client's keep-alive connection", async (t) => {
    const ca = new TestCa();
    const pair = ca.issue(['localhost']);
    const upstreamSockets = new Set<Socket>();
    const server = await startHttpsServer(pair, (req, res) => {
      upstreamSockets.add(req.socket);
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end(`served ${req.url}`);
    });
    t.after(() => server.close());
    const proxy = await startProxyTrusting(ca.certPem);
    t.after(() => proxy.cleanup());
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: await readFile(join(proxy.caDir, 'ca.pem'), 'utf8') });
    const first = await replyEndingWith(socket, `GET /a HTTP/1.1\r\nHost: localhost:${server.port}\r\n\r\n`, 'served /a\r\n0\r\n\r\n');
    assert.match(first, /\r\nconnection: keep-alive\r\n/i);
    const second = await exchange(socket, `GET /b HTTP/1.1\r\nHost: localhost:${server.port}\r\nConnection: close\r\n\r\n`);
    assert.match(second, /^HTTP\/1\.1 200 [\s\S]*served \/b\r\n0\r\n\r\n$/, 'the same client connection carried a second exchange');
    assert.equal(upstreamSockets.size, 2, 'the server closed its connection after each response, so the proxy opened another');
  });

  test('an HTTP/1.0 client that asks for keep-alive keeps its connection, and one that does not is closed', async (t) => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = await startHttpServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
      res.end('ok');
    });
    t.after(() => server.close());
    const proxy = await startProxyTrusting(new TestCa().certPem);
    t.after(() => proxy.cleanup());
    const socket = netConnect({ host: '127.0.0.1', port: proxy.proxyPort });
    t.after(() => socket.destroy());
    const url = `http://127.0.0.1:${server.port}/`;
    const first = await replyEndingWith(socket, `GET ${url} HTTP/1.0\r\nHost: 127.0.0.1:${server.port}\r\nConnection: keep-alive\r\n\r\n`, '\r\n\r\nok');
    assert.match(first, /\r\nconnection: keep-alive\r\n/i);
    const second = await exchange(socket, `GET ${url} HTTP/1.0\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    assert.match(second, /^HTTP\/1\.1 200 [\s\S]*\r\nconnection: close\r\n[\s\S]*ok$/i, 'the second request rode the same connection, which then closed');
    assert.equal(seen.length, 2);
    assert.deepEqual(seen.map((h) => h.connection), ['keep-alive', 'keep-alive'], 'neither client hop reached the server');
  });

  test("a response a rule holds reaches the client without the server's hop fields", async (t) => {
    const server = await startHttpsServer(rulesPair, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '5', Connection: 'keep-alive, X-Server-Hop', 'X-Server-Hop': 'secret' });
      res.end('hello');
    });
    t.after(() => server.close());
    const { proxy, api } = await startRulesProxy(t);
    assert.equal((await api('POST', '/api/rules', { match: 'status:200', action: { type: 'rewrite', target: 'response-body', find: 'hello', replace: 'HELLO' } })).status, 201);
    const caPem = await readFile(join(proxy.caDir, 'ca.pem'), 'utf8');
    const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${server.port}`, { servername: 'localhost', ca: caPem });
    const reply = await exchange(socket, `GET / HTTP/1.1\r\nHost: localhost:${server.port}\r\nConnection: close\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 200 [\s\S]*HELLO$/, 'the rule rewrote the held body');
    assert.doesNotMatch(reply, /x-server-hop|keep-alive/i);
  });
});
