import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { TestCa, type KeyPair } from '../helpers/pki.js';
import { curl, curlStatus, startOpensslServer, startProxy, tempDir, type TestProxy } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';

/** The colon-separated upper-case SHA-256 the handshake view gives certificates. */
function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

describe('the client leg serves ECDSA or RSA as the client accepts, and shows which', { skip: requireTools('curl', 'openssl') }, () => {
  const ca = new TestCa();
  const pair: KeyPair = ca.issue(['localhost']);
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')] });
  });
  after(async () => {
    await proxy.cleanup();
    await files.remove();
  });

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
