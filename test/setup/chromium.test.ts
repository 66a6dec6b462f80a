import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { lookup } from 'node:dns/promises';
import { TestCa } from '../helpers/pki.js';
import { startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { launch, trustInNss } from '../helpers/browser.js';
import { requireTools } from '../helpers/tools.js';

describe('Chromium through mitmscope, trusting its CA through NSS', { skip: requireTools('chromium', 'certutil') }, () => {
  const ca = new TestCa();
  const host = hostname();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let server: Listening;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    server = await startHttpsServer(ca.issue(['localhost', host]), (req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>local page</title><h1>served ${req.url}</h1>`);
    });
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], ui: true, uiPort: 0, token: 'chromium-test' });
    await trustInNss(files.path, join(proxy.caDir, 'ca.pem'));
  });
  after(async () => {
    await proxy.cleanup();
    await server.close();
    await files.remove();
  });

  test('with --proxy-server a local HTTPS page loads with no certificate error, via our leaf', async (t) => {
    const browser = await launch({ home: files.path, args: [`--proxy-server=${proxy.proxyUrl}`, '--proxy-bypass-list=<-loopback>'] });
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    const response = await page.goto(`https://localhost:${server.port}/direct`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.textContent('h1'), 'served /direct');
    const security = await response?.securityDetails();
    assert.match(security?.issuer ?? '', /mitmscope CA/);
    assert.ok(proxy.store.list().some((f) => f.request.url === `https://localhost:${server.port}/direct`));
  });

  test('through the PAC URL the same page loads via the proxy', async (t) => {
    // Chromium never consults a PAC script for loopback names: use this machine's own name.
    const address = await lookup(host).catch(() => null);
    if (!address || !address.address.startsWith('127.')) {
      t.skip(`this machine's name ${host} does not resolve to loopback, so PAC cannot be exercised`);
      return;
    }
    const browser = await launch({ home: files.path, args: [`--proxy-pac-url=${proxy.dashboardUrl}/proxy.pac`] });
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    const response = await page.goto(`https://${host}:${server.port}/via-pac`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.textContent('h1'), 'served /via-pac');
    assert.match((await response?.securityDetails())?.issuer ?? '', /mitmscope CA/);
    assert.ok(proxy.store.list().some((f) => f.request.url === `https://${host}:${server.port}/via-pac`));
  });
});
