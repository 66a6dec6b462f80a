import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { run, startProxy, type TestProxy } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';

describe('set-up pages served by a running mitmscope', { skip: requireTools('curl') }, () => {
  let proxy: TestProxy;

  before(async () => {
    proxy = await startProxy({ ui: true, uiPort: 0, token: 'setup-test', ignoreHosts: [/\.internal\.example$/] });
  });
  after(() => proxy.cleanup());

  for (const file of ['ca.pem', 'ca.cer', 'ca.p12']) {
    test(`http://mitmscope.test/${file} through the proxy is byte-identical to ca/${file}`, async () => {
      const expected = await readFile(join(proxy.caDir, file));
      // run() decodes stdout as text: compare the bytes through base64.
      const raw = await run('bash', ['-o', 'pipefail', '-c', `curl -sS --proxy ${proxy.proxyUrl} http://mitmscope.test/${file} | base64 -w0`]);
      assert.equal(raw.code, 0, raw.stderr);
      assert.equal(raw.stdout, expected.toString('base64'));
    });
  }

  test('the CA page through the proxy shows the fingerprint and install steps', async () => {
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, 'http://mitmscope.test/']);
    assert.match(r.stdout, new RegExp(proxy.rootCa.fingerprint256));
    for (const platform of ['macOS', 'Windows', 'Linux', 'Firefox', 'Android', 'iOS']) assert.ok(r.stdout.includes(platform), `steps for ${platform}`);
  });

  test('/proxy.pac needs no token, points at the proxy and honours --ignore-hosts', async () => {
    const r = await fetch(`${proxy.dashboardUrl}/proxy.pac`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type')?.split(';')[0], 'application/x-ns-proxy-autoconfig');
    const script = await r.text();
    assert.ok(script.includes(`PROXY 127.0.0.1:${proxy.proxyPort}`));
    assert.ok(script.includes('internal'), 'the ignore pattern is in the script');
  });
});
