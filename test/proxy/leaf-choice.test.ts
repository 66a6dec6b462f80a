import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, startOpensslServer, startProxyTrusting, type TestProxy } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';

/** The colon-separated upper-case SHA-256 the handshake view gives certificates. */
function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

describe('the client leg serves ECDSA or RSA as the client accepts, and shows which', { skip: requireTools('curl', 'openssl') }, () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost']);
  let proxy: TestProxy;

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem);
  });
  after(() => proxy.cleanup());

  for (const [label, args, ecdsa] of [
    ['curl with its defaults gets the ECDSA leaf', [], true],
    ['curl limited to TLS 1.2 and AES256-SHA gets the RSA leaf', ['--tls-max', '1.2', '--ciphers', 'AES256-SHA'], false],
  ] as const) {
    test(label, async (t) => {
      const server = await startOpensslServer(pair, ['-www']);
      t.after(() => server.close());
      const r = await curl(proxy, `https://localhost:${server.port}/`, [...args]);
      assert.equal(curlStatus(r).status, 200, r.stderr);
      const flow = proxy.store.list().find((f) => f.port === server.port && f.kind === 'http');
      const shown = flow?.clientConnection?.tls?.certificates[0]?.sha256;
      assert.equal(shown, fingerprint(await proxy.minter.leafDer('localhost', ecdsa)));
      assert.notEqual(shown, fingerprint(await proxy.minter.leafDer('localhost', !ecdsa)));
    });
  }
});
