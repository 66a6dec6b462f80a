import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { TestCa } from '../../helpers/pki.js';
import { startProxy, tempDir, type TestProxy } from '../../helpers/servers.js';
import { flowWhere } from '../../helpers/flows.js';
import { requireTools } from '../../helpers/tools.js';
import { launch, trustInNss } from '../../helpers/browser.js';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, VIEWPORT, eventually } from '../../ui/fixtures/harness.js';
import { buildUi } from '../../../ui/build.js';
import { startH2Server, type H2Server } from './helpers.js';

const TOKEN = 'h2-e2e';

describe('headless Chromium over HTTP/2 through the proxy', { skip: requireTools('chromium', 'certutil') }, () => {
  const ca = new TestCa();
  const pair = ca.issue(['localhost']);
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let server: H2Server;

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    await buildUi();
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], ui: true, uiPort: 0, token: TOKEN });
    server = await startH2Server(pair);
    server.server.on('stream', (stream, headers) => {
      const path = String(headers[':path']);
      if (path === '/app.js') {
        stream.respond({ ':status': 200, 'content-type': 'text/javascript' });
        stream.end('document.title = "loaded";');
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'text/html' });
      stream.end('<!doctype html><title>h2</title><script src="/app.js"></script>');
    });
  });
  after(async () => {
    await server.close();
    await proxy.cleanup();
    await files.remove();
  });

  test('the page and its script load over h2 on both legs', async () => {
    await trustInNss(files.path, join(proxy.caDir, 'ca.pem'));
    const browser = await launch({ home: files.path, args: [`--proxy-server=${proxy.proxyUrl}`, '--proxy-bypass-list=<-loopback>'] });
    try {
      const page = await browser.context.newPage();
      await page.goto(`https://localhost:${server.port}/`);
      // Page-side code as strings: the test compiles without the DOM library.
      await page.waitForFunction('document.title === "loaded"');
      const protocols = await page.evaluate<string[]>(
        "[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => new URL(e.name).pathname + ' ' + e.nextHopProtocol)",
      );
      assert.ok(protocols.includes('/ h2') && protocols.includes('/app.js h2'), protocols.join());
    } finally {
      await browser.close();
    }
    const script = await flowWhere(proxy, (f) => f.request.url.endsWith('/app.js') && f.state !== 'pending');
    assert.equal(script.state, 'complete', JSON.stringify(script.error));
    assert.equal(script.request.httpVersion, '2');
    assert.equal(script.clientConnection?.tls?.alpn, 'h2');
    assert.equal(script.serverConnection?.tls?.alpn, 'h2');
    assert.ok((script.clientConnection?.http2?.streams ?? 0) >= 2, 'page and script shared the client connection');

    const dashboard = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    try {
      const page = await (await dashboard.newContext({ viewport: VIEWPORT })).newPage();
      await page.goto(`${proxy.dashboardUrl}/?token=${TOKEN}`);
      const row = page.locator('.rows .row', { has: page.locator('.c-path', { hasText: '/app.js' }) }).first();
      await row.waitFor();
      await row.click();
      await page.click('[data-tab=tls]');
      for (const leg of ['client', 'server']) {
        const frames = page.locator(`.h2-frames[data-h2-leg=${leg}]`);
        await frames.waitFor();
        await eventually(async () => /SETTINGS/.test(await frames.innerText()), `the ${leg} leg's SETTINGS`);
        assert.match(await frames.locator('.h2-stream caption').innerText(), /^Stream \d+/);
      }
    } finally {
      await dashboard.close();
    }
  });
});
