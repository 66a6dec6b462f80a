import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { TestCa } from '../helpers/pki.js';
import { startProxy, tempDir } from '../helpers/servers.js';
import { exchange, tlsThroughProxy } from '../helpers/tunnel.js';
import { flowWhere } from '../helpers/flows.js';

test('the upstream connection opens during the client handshake, and the first request uses it', async (t) => {
  const ca = new TestCa();
  const files = await tempDir();
  t.after(() => files.remove());
  await writeFile(join(files.path, 'ca.pem'), ca.certPem);
  const pair = ca.issue(['localhost']);
  let connections = 0;
  const server = https.createServer({ key: pair.keyPem, cert: pair.certPem }, (_req, res) => res.end(`on connection ${connections}`));
  const upstreamReady = new Promise<void>((resolve) => server.on('secureConnection', () => {
    connections += 1;
    resolve();
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const port = (server.address() as AddressInfo).port;
  const proxy = await startProxy({ upstreamCa: [join(files.path, 'ca.pem')] });
  t.after(() => proxy.cleanup());
  const socket = await tlsThroughProxy(proxy.proxyPort, `localhost:${port}`, { servername: 'localhost', ca: await readFile(join(proxy.caDir, 'ca.pem'), 'utf8') });
  // Nothing has been asked yet, and the server already has its TLS connection from the proxy.
  await upstreamReady;
  const reply = await exchange(socket, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  assert.match(reply, /on connection 1$/);
  assert.equal(connections, 1);
  const flow = await flowWhere(proxy, (f) => f.port === port && f.state === 'complete');
  assert.ok((flow.timings.ssl ?? -1) >= 0, 'the flow still reports the TLS set-up it used');
});
