import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { TestCa } from '../helpers/pki.js';
import { curl, run, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';
import { summarize } from '../../src/capture/flow.js';
import { connectRequest, redactCredentials } from '../../src/proxy/connect-request.js';

/** A loopback port nothing listens on: bound once, then closed. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('CONNECT requests as sent', () => {
  test('proxy credentials are redacted, keeping the scheme, and other headers keep order and case', () => {
    const headers = redactCredentials([
      ['Host', 'a.example:443'],
      ['proxy-authorization', 'Basic dXNlcjpzZWNyZXQ='],
      ['Proxy-Authorization', 'weird'],
      ['User-Agent', 'x'],
    ]);
    assert.deepEqual(headers, [
      ['Host', 'a.example:443'],
      ['proxy-authorization', 'Basic [redacted]'],
      ['Proxy-Authorization', '[redacted]'],
      ['User-Agent', 'x'],
    ]);
  });

  test('the request keeps the authority form and HTTP version', () => {
    const r = connectRequest({ url: 'a.example:8443', rawHeaders: ['Host', 'a.example:8443'], httpVersion: '1.0' });
    assert.equal(r.method, 'CONNECT');
    assert.equal(r.url, 'a.example:8443');
    assert.equal(r.httpVersion, '1.0');
    assert.deepEqual(r.headers, [['Host', 'a.example:8443']]);
  });
});

describe('failed flows record only the phases that ran', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  const other = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let untrusted: Listening;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    // Signed by a CA the proxy does not trust: the upstream TLS handshake fails.
    untrusted = await startHttpsServer(other.issue(['localhost']), (_req, res) => res.end('never'));
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], connectTimeout: 2000 });
  });
  after(async () => {
    await proxy.cleanup();
    await untrusted.close();
    await files.remove();
  });

  test('a refused upstream: connect ran and failed, nothing after it; TLS version is the client leg', async () => {
    const port = await refusedPort();
    const r = await curl(proxy, `https://127.0.0.1:${port}/refused`);
    assert.match(r.stdout, /\n502$/, r.stderr);
    const flow = await flowWhere(proxy, (f) => f.port === port && f.state === 'error');
    assert.equal(flow.error?.stage, 'connect');
    const t = flow.timings;
    assert.equal(t.dns, -1, 'an IP literal needs no lookup');
    assert.ok(t.connect >= 0, `connect ran: ${t.connect}`);
    assert.deepEqual([t.ssl, t.send, t.wait, t.receive], [-1, -1, -1, -1]);
    assert.equal(flow.serverConnection, null);
    const live = summarize(flow);
    assert.equal(live.tlsVersion, 'TLSv1.3');
    assert.equal(live.tlsLeg, 'client');
    await proxy.store.flushed();
    const stored = proxy.store.newest(50).find((s) => s.id === flow.id);
    assert.equal(stored?.tlsLeg, 'client', 'summaries read back from the session agree');
  });

  test('an upstream TLS failure: TCP and the failing TLS phase, no send/wait/receive', async () => {
    const r = await curl(proxy, `https://localhost:${untrusted.port}/untrusted`);
    assert.match(r.stdout, /\n502$/, r.stderr);
    const flow = await flowWhere(proxy, (f) => f.port === untrusted.port && f.state === 'error');
    assert.equal(flow.error?.stage, 'upstream-tls');
    const t = flow.timings;
    assert.ok(t.dns >= 0, 'localhost was looked up');
    assert.ok(t.ssl >= 0 && t.connect >= t.ssl, `connect ${t.connect} includes TLS ${t.ssl}`);
    assert.deepEqual([t.send, t.wait, t.receive], [-1, -1, -1]);
  });

  test('a client that does not trust the CA: the CONNECT flow shows the request as sent, credentials redacted', async () => {
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--proxy-user', 'alice:s3cret', '--proxy-basic', '--max-time', '20', `https://localhost:${untrusted.port}/pinned`]);
    assert.notEqual(r.code, 0, 'curl must refuse the mitmscope certificate');
    const flow = await flowWhere(proxy, (f) => f.kind === 'tls-failure' && f.port === untrusted.port);
    assert.equal(flow.request.method, 'CONNECT');
    assert.equal(flow.request.url, `localhost:${untrusted.port}`);
    const names = flow.request.headers.map(([n]) => n);
    assert.deepEqual(names, ['Host', 'Proxy-Authorization', 'User-Agent', 'Proxy-Connection'], 'curl sends these, in this order');
    assert.equal(flow.request.headers[1]![1], 'Basic [redacted]');
    assert.ok(!JSON.stringify(flow).includes('YWxpY2U6czNjcmV0'), 'the credential appears nowhere in the flow');
    assert.notEqual(summarize(flow).tlsLeg, 'server', 'no server connection was made');
  });

  test('proxy credentials on a plain proxy request are recorded redacted too', async () => {
    const port = await refusedPort();
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--proxy-user', 'carol:pw', '--proxy-basic', '--max-time', '20', `http://127.0.0.1:${port}/plain-auth`]);
    assert.equal(r.code, 0, r.stderr);
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/plain-auth') && f.state === 'error');
    const auth = flow.request.headers.find(([n]) => n.toLowerCase() === 'proxy-authorization');
    assert.deepEqual(auth, ['Proxy-Authorization', 'Basic [redacted]']);
  });
});
