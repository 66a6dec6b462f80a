import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { TestCa } from '../helpers/pki.js';
import { startProxy, startProxyTrusting } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { connectTunnel } from '../helpers/tunnel.js';
import { blackholePort } from '../helpers/blackhole.js';
import { requireTools } from '../helpers/tools.js';

/** A TCP (or TLS) server on 127.0.0.1:0 whose accepted sockets are destroyed when the test ends. */
async function listen(t: TestContext, server: Server): Promise<{ port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  server.on('connection', (s: Socket) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of accepted) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, accepted };
}

/** Everything the socket receives until it closes. */
function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.resume();
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

describe('server-speaks-first tunnels are told by the server speaking first', () => {
  test('an SMTP-like server that greets first is tunnelled raw, its greeting and everything after it intact and in order', async (t) => {
    // More than one read's worth after the first line: the probe reads one chunk, the rest must follow it.
    const bulk = Buffer.alloc(300 * 1024);
    for (let i = 0; i < bulk.length; i++) bulk[i] = (i * 7 + 3) & 0xff;
    const greeting = Buffer.concat([Buffer.from('220 smtp.test ESMTP ready\r\n'), bulk, Buffer.from('220 end of banner\r\n')]);
    const smtp = await listen(
      t,
      createServer((s) => {
        s.write(greeting);
        s.on('data', (d: Buffer) => {
          if (d.toString('latin1').startsWith('QUIT')) s.end('221 bye\r\n');
        });
      }),
    );
    const proxy = await startProxy();
    t.after(() => proxy.cleanup());
    const client = await connectTunnel(proxy.proxyPort, `127.0.0.1:${smtp.port}`);
    t.after(() => client.destroy());
    const received = readAll(client);
    // The client only reads until the whole banner is there, then says QUIT.
    let seen = 0;
    client.on('data', (d: Buffer) => {
      seen += d.length;
      if (seen === greeting.length) client.write('QUIT\r\n');
    });
    const all = await received;
    assert.ok(all.subarray(0, greeting.length).equals(greeting), 'the greeting arrived whole and in order');
    assert.equal(all.subarray(greeting.length).toString('latin1'), '221 bye\r\n');
    const flow = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === smtp.port && f.state !== 'pending');
    assert.equal(flow.state, 'complete');
    assert.match(flow.notes.join(' '), /the server spoke first: relayed untouched/);
    assert.equal(flow.response?.bodySize, greeting.length + '221 bye\r\n'.length);
    assert.equal(flow.request.bodySize, 'QUIT\r\n'.length);
    assert.equal(smtp.accepted.length, 1, 'the probe became the tunnel: one connection to the server');
  });

  test('a server that hangs up before the quiet client speaks passes the hang-up on', async (t) => {
    const rude = await listen(t, createServer((s) => s.end()));
    const proxy = await startProxy();
    t.after(() => proxy.cleanup());
    const client = await connectTunnel(proxy.proxyPort, `127.0.0.1:${rude.port}`);
    t.after(() => client.destroy());
    const ended = once(client, 'end');
    client.resume();
    await ended;
    const flow = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === rude.port && f.state !== 'pending');
    client.destroy();
    assert.equal(flow.state, 'complete');
    assert.equal(flow.response?.bodySize, 0);
  });

  test('a TLS client that waits past the probe is still intercepted, and the probe is closed', async (t) => {
    const ca = new TestCa();
    const pair = ca.issue(['localhost']);
    const origin = https.createServer({ key: pair.keyPem, cert: pair.certPem }, (_req, res) => res.end('from the origin'));
    const server = await listen(t, origin);
    const proxy = await startProxyTrusting(ca.certPem);
    t.after(() => proxy.cleanup());
    const probed = once(origin, 'connection') as Promise<[Socket]>;
    const raw = await connectTunnel(proxy.proxyPort, `localhost:${server.port}`);
    t.after(() => raw.destroy());
    // The client holds its ClientHello until the proxy's probe has reached the origin.
    const [probe] = await probed;
    const probeClosed = once(probe, 'close');
    const socket = tls.connect({ socket: raw, servername: 'localhost', ca: await readFile(join(proxy.caDir, 'ca.pem'), 'utf8') });
    t.after(() => socket.destroy());
    await once(socket, 'secureConnect');
    const leaf = new X509Certificate(socket.getPeerCertificate().raw);
    assert.match(leaf.issuer, /mitmscope/i, `intercepted: the leaf is issued by ${leaf.issuer}`);
    await probeClosed;
    socket.write('GET /late HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const reply = await readAll(socket as unknown as Socket);
    assert.match(reply.toString(), /^HTTP\/1\.1 200[\s\S]*from the origin$/);
    const flow = await flowWhere(proxy, (f) => f.kind === 'http' && f.request.url.endsWith('/late') && f.state !== 'pending');
    assert.equal(flow.state, 'complete');
    assert.equal(proxy.store.list().filter((f) => f.kind === 'tunnel').length, 0, 'nothing was tunnelled');
  });

  test('a silent client and a silent server end with the explained client timeout, recorded', async (t) => {
    const quiet = await listen(t, createServer(() => {}));
    const proxy = await startProxy({ clientHeadersTimeout: 1500 });
    t.after(() => proxy.cleanup());
    const client = await connectTunnel(proxy.proxyPort, `127.0.0.1:${quiet.port}`);
    t.after(() => client.destroy());
    const received = await readAll(client);
    assert.equal(received.length, 0, 'nothing to say after the 200: the tunnel is closed');
    const flow = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === quiet.port && f.state === 'error');
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_CLIENT_TIMEOUT', 'client-request']);
    assert.equal(flow.error?.message, `neither the client nor 127.0.0.1:${quiet.port} sent anything within 1500 ms of the CONNECT: closed (a TLS or HTTP client speaks first; an SMTP-like server greets first)`);
    assert.equal(quiet.accepted.length, 1);
    if (!quiet.accepted[0]!.closed) await once(quiet.accepted[0]!, 'close');
  });

  test('a quiet client whose target refuses the probe gets the tunnel failure path, recorded', async (t) => {
    const gone = createServer();
    gone.listen(0, '127.0.0.1');
    await once(gone, 'listening');
    const port = (gone.address() as AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    const proxy = await startProxy();
    t.after(() => proxy.cleanup());
    const client = await connectTunnel(proxy.proxyPort, `127.0.0.1:${port}`);
    t.after(() => client.destroy());
    await readAll(client);
    const flow = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === port && f.state === 'error');
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_UPSTREAM_CONNECT', 'connect']);
    assert.equal(flow.error?.message, `TCP connection to 127.0.0.1:${port} failed: connection refused`);
  });

  test('a quiet client whose target never completes the TCP handshake is cut by --connect-timeout, recorded', { skip: requireTools('python3') }, async (t) => {
    const port = await blackholePort(t);
    const proxy = await startProxy({ connectTimeout: 1000 });
    t.after(() => proxy.cleanup());
    const client = await connectTunnel(proxy.proxyPort, `127.0.0.1:${port}`);
    t.after(() => client.destroy());
    await readAll(client);
    const flow = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === port && f.state === 'error');
    assert.deepEqual([flow.error?.code, flow.error?.stage], ['MITM_ERR_UPSTREAM_TIMEOUT', 'connect']);
    assert.equal(flow.error?.message, `TCP connection to 127.0.0.1:${port} timed out after 1000 ms`);
  });
});
