import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, run, startOpensslServer, startProxyTrusting, tempDir, type TestProxy } from '../helpers/servers.js';
import type { Flow } from '../../src/capture/flow.js';
import { requireTools } from '../helpers/tools.js';

/** The HTTP flows to `port`, oldest first. */
function flowsTo(proxy: TestProxy, port: number): Flow[] {
  return proxy.store
    .list()
    .filter((f) => f.port === port && f.kind === 'http')
    .sort((a, b) => a.startedAt - b.startedAt);
}

describe('TLS session resumption, shown as an abbreviated handshake', { skip: requireTools('curl', 'openssl') }, () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost', '127.0.0.1']);
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;

  before(async () => {
    files = await tempDir();
    proxy = await startProxyTrusting(ca.certPem);
  });
  after(async () => {
    await proxy.cleanup();
    await files.remove();
  });

  for (const version of ['tls1_2', 'tls1_3'] as const) {
    test(`client leg (${version}): openssl s_client resumes with the saved session, and only the second handshake is abbreviated`, async (t) => {
      const server = await startOpensslServer(pair, ['-www']);
      t.after(() => server.close());
      const sessionFile = join(files.path, `client-${version}.pem`);
      const sClient = (sessionArgs: string[]): Promise<string> =>
        run('openssl', ['s_client', '-proxy', `127.0.0.1:${proxy.proxyPort}`, '-connect', `localhost:${server.port}`, '-servername', 'localhost', '-CAfile', join(proxy.caDir, 'ca.pem'), '-verify_return_error', `-${version}`, '-ign_eof', ...sessionArgs], {
          input: 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n',
        }).then((r) => r.stdout + r.stderr);
      const first = await sClient(['-sess_out', sessionFile]);
      assert.match(first, /^New, TLSv1\.[23]/m, first);
      const second = await sClient(['-sess_in', sessionFile]);
      assert.match(second, /^Reused, TLSv1\.[23]/m, second);
      const flows = flowsTo(proxy, server.port);
      assert.equal(flows.length, 2);
      assert.deepEqual(
        flows.map((f) => f.clientConnection?.tls?.resumed),
        [false, true],
      );
      assert.equal(flows[1]!.clientConnection?.tls?.error, null);
    });

    test(`upstream leg (${version}): the second connection to openssl s_server resumes the proxy's session`, async (t) => {
      // -www answers HTTP/1.0 and closes, so each request needs a new upstream connection.
      const server = await startOpensslServer(pair, [`-${version}`, '-www']);
      t.after(() => server.close());
      for (let i = 0; i < 2; i++) {
        const r = await curl(proxy, `https://localhost:${server.port}/`);
        assert.equal(curlStatus(r).status, 200, r.stderr);
      }
      const flows = flowsTo(proxy, server.port);
      assert.equal(flows.length, 2);
      const [a, b] = flows.map((f) => f.serverConnection);
      assert.notEqual(a?.id, b?.id, 'two upstream connections');
      assert.deepEqual([a?.tls?.resumed, b?.tls?.resumed], [false, true]);
      // Resuming adds no error of its own (a TLS 1.3-only server still refuses the 1.2 attempt first).
      assert.equal(b?.tls?.error, a?.tls?.error);
      // The resumed leg still names the server's chain, and no Certificate message crossed it.
      assert.equal(b?.tls?.version, version === 'tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
      assert.equal(b?.tls?.events.some((e) => e.type === 'Certificate'), false);
    });
  }
});
