import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { TestCa } from '../helpers/pki.js';
import { curl, curlStatus, startOpensslServer, startProxy, tempDir, type TestProxy } from '../helpers/servers.js';
import { launch, trustInNss } from '../helpers/browser.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, VIEWPORT, eventually } from './fixtures/harness.js';
import { buildUi } from '../../ui/build.js';
import { requireTools } from '../helpers/tools.js';

const TOKEN = 'ui-proxy-e2e';

/** A page that opens a wss:// echo on its own origin and exchanges three messages. */
const WS_PAGE = `<!doctype html><title>ws</title><script src="/app.js"></script>`;
const WS_SCRIPT = `
const ws = new WebSocket('wss://' + location.host + '/echo');
ws.onopen = () => { ws.send('hello over wss'); ws.send(JSON.stringify({ n: 1 })); };
let got = 0;
ws.onmessage = () => { if (++got === 2) { document.title = 'echoed'; ws.close(1000, 'done'); } };
`;

describe('the dashboard with real traffic through the proxy', { timeout: 180_000, skip: requireTools('chromium', 'certutil', 'curl', 'openssl') }, () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let browser: Browser;
  let page: Page;
  let wsServer: https.Server;
  let wsPort = 0;

  before(async () => {
    await buildUi();
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    const pair = ca.issue(['localhost']);
    wsServer = https.createServer({ key: pair.keyPem, cert: pair.certPem }, (req, res) => {
      if (req.url === '/app.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(WS_SCRIPT);
      res.writeHead(200, { 'content-type': 'text/html' }).end(WS_PAGE);
    });
    const wss = new WebSocketServer({ server: wsServer });
    wss.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
    await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', () => resolve()));
    wsPort = (wsServer.address() as AddressInfo).port;
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')], ui: true, uiPort: 0, token: TOKEN });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
    await page.goto(`${proxy.dashboardUrl}/?token=${TOKEN}`);
    await eventually(async () => (await page.locator('.conn.open').count()) === 1, 'the live feed to connect');
  });
  after(async () => {
    await browser?.close();
    await proxy.cleanup();
    wsServer.closeAllConnections();
    await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    await files.remove();
  });

  function rowFor(path: string) {
    return page.locator('.rows .row', { has: page.locator('.c-path', { hasText: path }) }).first();
  }

  it('a curl request appears live; its headers, body and both real TLS ladders show', async (t) => {
    const server = await startOpensslServer(ca.issue(['localhost']), ['-tls1_2', '-cipher', 'AES256-SHA', '-www']);
    t.after(() => server.close());
    const r = await curl(proxy, `https://localhost:${server.port}/from-curl`, ['-H', 'X-From-Test: yes']);
    assert.equal(curlStatus(r).status, 200, r.stderr);
    const row = rowFor('/from-curl');
    await row.waitFor();
    await eventually(async () => (await row.locator('.c-status').innerText()).trim() === '200', 'status 200');
    await row.click();
    await page.click('[data-tab=request]');
    await page.locator('.detail', { hasText: 'X-From-Test' }).waitFor();
    await page.click('[data-tab=response]');
    await eventually(async () => /Cipher\s*:\s*AES256-SHA/.test(await page.locator('.detail').innerText()), 'the s_server page in the body');
    await page.click('[data-tab=tls]');
    const server_ = page.locator('svg.ladder[data-leg=server] g.ev');
    await server_.first().waitFor();
    const names: string[] = [];
    for (const el of await server_.all()) names.push((await el.getAttribute('data-event')) ?? '');
    for (const step of ['ClientHello', 'ServerHello', 'Certificate', 'ServerHelloDone', 'ClientKeyExchange', 'ChangeCipherSpec', 'Finished']) {
      assert.ok(names.includes(step), `server ladder has ${step}: ${names.join(',')}`);
    }
    assert.ok((await page.locator('svg.ladder[data-leg=client] g.ev').count()) > 2, 'the client ladder too');
    await page.locator('.detail', { hasText: 'TLS_RSA_WITH_AES_256_CBC_SHA' }).first().waitFor();
  });

  it('Chromium proxied through mitmscope exchanges wss:// messages that show in the Messages tab', async (t) => {
    await trustInNss(files.path, join(proxy.caDir, 'ca.pem'));
    const proxied = await launch({ home: files.path, args: [`--proxy-server=${proxy.proxyUrl}`, '--proxy-bypass-list=<-loopback>'] });
    t.after(() => proxied.close());
    const app = await proxied.context.newPage();
    await app.goto(`https://localhost:${wsPort}/`);
    await eventually(async () => (await app.title()) === 'echoed', 'the page to get both echoes');
    const row = rowFor('/echo');
    await row.waitFor();
    await row.click();
    await page.click('[data-tab=websocket]');
    await page.locator('table.ws-messages').waitFor();
    await eventually(async () => (await page.locator('table.ws-messages tbody tr').count()) >= 4, 'two sent and two received messages');
    const text = await page.locator('table.ws-messages').innerText();
    assert.match(text, /hello over wss/);
  });
});
