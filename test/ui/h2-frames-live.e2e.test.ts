/**
 * The frames view of an open HTTP/2 flow follows the connection live in headless Chromium: a
 * Node h2 client through the proxy to a Node h2 server keeps a stream open, the flow's TLS tab
 * shows its frames, and a PING, the stream's end and the closing GOAWAY appear without a reload
 * (and the PING without even refetching the flow).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Page } from 'playwright-core';
import { TestCa } from '../helpers/pki.js';
import { startProxyTrusting, type TestProxy } from '../helpers/servers.js';
import { requireTools } from '../helpers/tools.js';
import { flowWhere } from '../helpers/flows.js';
import { h2ThroughProxy, startH2Server, type H2Server } from '../proxy/h2/helpers.js';
import { eventually, startHarness, type Harness } from './fixtures/harness.js';

describe('HTTP/2 frames live in the dashboard', { timeout: 180_000, skip: requireTools('chromium') }, () => {
  const ca = new TestCa();
  let proxy: TestProxy;
  let server: H2Server;
  let h: Harness;
  let page: Page;
  const held: ServerHttp2Stream[] = [];
  const serverSessions: ServerHttp2Session[] = [];

  before(async () => {
    proxy = await startProxyTrusting(ca.certPem);
    server = await startH2Server(ca.issue(['localhost']));
    server.server.on('session', (s) => serverSessions.push(s));
    server.server.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.write('first part;');
      held.push(stream);
    });
    h = await startHarness(proxy.store);
    ({ page } = await h.newPage());
    await page.goto(h.entryUrl);
    await eventually(async () => (await page.locator('.conn.open').count()) === 1, 'the live feed to connect');
  });
  after(async () => {
    await h?.close();
    await server?.close();
    await proxy?.cleanup();
  });

  it('a PING, the end of the stream and the GOAWAY appear in the open flow\'s frames view without a reload', async (t) => {
    const session = await h2ThroughProxy(proxy, `localhost:${server.port}`);
    t.after(() => session.destroy());
    const req = session.request({ ':path': '/held/live-frames' });
    req.on('error', () => {});
    req.resume();
    await new Promise<void>((resolve) => req.once('data', () => resolve()));
    const flow = await flowWhere(proxy, (f) => f.request.url.endsWith('/held/live-frames'));

    const row = page.locator('.rows .row', { has: page.locator('.c-path', { hasText: '/held/live-frames' }) }).first();
    await row.click();
    await page.click('[data-tab=tls]');
    const clientLeg = page.locator('.h2-frames[data-h2-leg=client]');
    const serverLeg = page.locator('.h2-frames[data-h2-leg=server]');
    await clientLeg.locator('tr[data-h2-type=SETTINGS]').first().waitFor();
    await serverLeg.locator('tr[data-h2-type=SETTINGS]').first().waitFor();
    assert.equal(await clientLeg.locator('tr[data-h2-type=PING]').count(), 0);

    // From here on: no navigation, and (for the PING) no fetch of the flow either.
    await page.evaluate('window.liveMark = 1');
    const fetches: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes(`/api/flows/${flow.id}`)) fetches.push(r.url());
    });

    await new Promise<void>((resolve, reject) => session.ping(Buffer.from('e2e-ping'), (err) => (err ? reject(err) : resolve())));
    const hex = Buffer.from('e2e-ping').toString('hex');
    await clientLeg.locator('tr[data-h2-type=PING]', { hasText: hex }).first().waitFor();
    await eventually(async () => (await clientLeg.locator('tr[data-h2-type=PING]', { hasText: 'ACK' }).count()) === 1, "the proxy's PING ACK");
    assert.deepEqual(fetches, [], 'the PING was applied from the live feed, not by refetching the flow');

    // A PING the server sends on the upstream session shows under the server leg.
    await new Promise<void>((resolve, reject) => serverSessions.at(-1)!.ping(Buffer.from('srv-ping'), (err) => (err ? reject(err) : resolve())));
    await serverLeg.locator('tr[data-h2-type=PING]', { hasText: Buffer.from('srv-ping').toString('hex') }).first().waitFor();

    // The stream ends: its END_STREAM time fills in; then the client's GOAWAY closes the connection.
    held.shift()!.end('last part');
    await new Promise<void>((resolve) => req.once('close', () => resolve()));
    await eventually(async () => /ms\s*$/.test(await clientLeg.locator('table.h2-stream tbody tr', { hasText: 'proxy' }).innerText()), 'the END_STREAM time of the response');
    await new Promise<void>((resolve) => session.close(() => resolve()));
    await clientLeg.locator('tr[data-h2-type=GOAWAY]').first().waitFor();
    assert.match(await clientLeg.locator('tr[data-h2-type=GOAWAY]').first().innerText(), /client/);

    assert.equal(await page.evaluate('window.liveMark'), 1, 'the page was never reloaded');
  });
});
