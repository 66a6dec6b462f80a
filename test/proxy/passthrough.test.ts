import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { TestCa } from '../helpers/pki.js';
import { curlStatus, run, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { flowWhere } from '../helpers/flows.js';
import { requireTools } from '../helpers/tools.js';


describe('passthrough and pinning', { skip: requireTools('curl') }, () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let server: Listening;
  let testCa = '';

  before(async () => {
    files = await tempDir();
    testCa = join(files.path, 'test-ca.pem');
    await writeFile(testCa, ca.certPem);
    server = await startHttpsServer(ca.issue(['localhost']), (_req, res) => res.end('straight from the server'));
  });
  after(async () => {
    await server.close();
    await files.remove();
  });

  /** curl that trusts only the server's own CA, as a pinning app would. */
  function pinnedCurl(proxy: TestProxy): ReturnType<typeof run> {
    return run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--cacert', testCa, '-w', '\n%{http_code}', `https://localhost:${server.port}/`]);
  }

  test('a client that rejects our certificate gets the pinning explanation, and --auto-passthrough tunnels its next connection', async (t) => {
    const proxy = await startProxy({ upstreamCa: [testCa], autoPassthrough: true });
    t.after(() => proxy.cleanup());
    const first = await pinnedCurl(proxy);
    assert.notEqual(first.code, 0, 'curl refuses the mitmscope leaf');
    const failure = await flowWhere(proxy, (f) => f.kind === 'tls-failure' && f.port === server.port);
    assert.match(failure.error?.message ?? '', /the client does not trust the mitmscope CA or pins its certificate; install the CA or add --ignore-hosts/);
    assert.ok(proxy.proxy.passthrough.has('localhost'), 'the host is passed through from now on');
    const second = await pinnedCurl(proxy);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(curlStatus(second).body, 'straight from the server');
    const tunnel = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === server.port);
    assert.match(tunnel.notes.join(' '), /passed through/);
  });

  test('the dashboard lists passed-through hosts and clearing them intercepts the host again', async (t) => {
    const proxy = await startProxy({ upstreamCa: [testCa], autoPassthrough: true, ui: true, uiPort: 0, token: 'pt' });
    t.after(() => proxy.cleanup());
    const auth = { authorization: 'Bearer pt' };
    await pinnedCurl(proxy);
    await flowWhere(proxy, (f) => f.kind === 'tls-failure');
    const listed = (await (await fetch(`${proxy.dashboardUrl}/api/passthrough`, { headers: auth })).json()) as { hosts: string[] };
    assert.deepEqual(listed.hosts, ['localhost']);
    const status = (await (await fetch(`${proxy.dashboardUrl}/api/status`, { headers: auth })).json()) as { passthrough: string[] };
    assert.deepEqual(status.passthrough, ['localhost']);
    const cleared = await fetch(`${proxy.dashboardUrl}/api/passthrough/localhost`, { method: 'DELETE', headers: auth });
    assert.equal(cleared.status, 200);
    assert.equal(proxy.proxy.passthrough.size, 0);
    const missing = await fetch(`${proxy.dashboardUrl}/api/passthrough/localhost`, { method: 'DELETE', headers: auth });
    assert.equal(missing.status, 404);
    // Intercepted again: the pinned client fails once more instead of being tunnelled.
    const again = await pinnedCurl(proxy);
    assert.notEqual(again.code, 0);
  });

  test('without --auto-passthrough the host stays intercepted', async (t) => {
    const proxy = await startProxy({ upstreamCa: [testCa] });
    t.after(() => proxy.cleanup());
    await pinnedCurl(proxy);
    await flowWhere(proxy, (f) => f.kind === 'tls-failure');
    const again = await pinnedCurl(proxy);
    assert.notEqual(again.code, 0);
    assert.equal(proxy.proxy.passthrough.size, 0);
  });

  test('--ignore-hosts tunnels matching hosts untouched', async (t) => {
    const proxy = await startProxy({ ignoreHosts: [/^localhost$/i] });
    t.after(() => proxy.cleanup());
    const r = await pinnedCurl(proxy);
    assert.equal(curlStatus(r).body, 'straight from the server', r.stderr);
    const tunnel = await flowWhere(proxy, (f) => f.kind === 'tunnel' && f.port === server.port && f.state === 'complete');
    assert.match(tunnel.notes.join(' '), /ignored by --ignore-hosts/);
    assert.ok((tunnel.response?.bodySize ?? 0) > 0, 'bytes were counted');
  });
});
