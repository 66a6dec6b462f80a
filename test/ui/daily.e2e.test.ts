/**
 * The dashboard for daily work, end to end with real traffic through the proxy: failed flows
 * (refused upstream, untrusted client), copy-as commands run against the real server, and axe
 * accessibility checks on the views involved.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import type { AxeResults } from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { curl, run, startHttpServer, startProxy, type Listening, type TestProxy } from '../helpers/servers.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, VIEWPORT, eventually } from './fixtures/harness.js';
import { buildUi } from '../../ui/build.js';
import { requireTools } from '../helpers/tools.js';

const TOKEN = 'ui-daily-e2e';
/** README screenshots are refreshed only on request (MITMSCOPE_SCREENSHOTS=1), so a test run never dirties the tree. */
const SCREENSHOTS = process.env['MITMSCOPE_SCREENSHOTS'] === '1' ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : null;
const SEARCH_MARKER = 'marker-93c1';

async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Serious and critical axe violations inside `selector`, as readable lines. */
async function axeViolations(page: Page, selector: string): Promise<string[]> {
  const result: AxeResults = await new AxeBuilder({ page }).include(selector).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => String(n.target)).join(', ')}`);
}

describe('the dashboard for daily work', { timeout: 180_000, skip: requireTools('chromium', 'curl') }, () => {
  let proxy: TestProxy;
  let upstream: Listening;
  let browser: Browser;
  let page: Page;
  const seen: { method: string; url: string; headers: string[]; body: string }[] = [];

  before(async () => {
    await buildUi();
    upstream = await startHttpServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, body });
        res.setHeader('content-type', 'application/json');
        const url = req.url ?? '';
        if (url.startsWith('/json/')) {
          // Two JSON answers that differ in one key (and share the rest).
          return void res.end(JSON.stringify({ id: 7, name: 'widget', price: url === '/json/a' ? 10 : 12, tags: ['x'] }));
        }
        if (url.startsWith('/gz/')) {
          // The marker is only in the gzip-encoded response of /gz/marked.
          res.setHeader('content-encoding', 'gzip');
          return void res.end(gzipSync(JSON.stringify({ path: url, note: url === '/gz/marked' ? SEARCH_MARKER : 'plain' })));
        }
        res.end('{"ok":true}');
      });
    });
    proxy = await startProxy({ ui: true, uiPort: 0, token: TOKEN, connectTimeout: 2000 });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
    await page.goto(`${proxy.dashboardUrl}/?token=${TOKEN}`);
    await eventually(async () => (await page.locator('.conn.open').count()) === 1, 'the live feed to connect');
  });
  after(async () => {
    await browser?.close();
    await proxy.cleanup();
    await upstream.close();
  });

  function rowWith(text: string) {
    return page.locator('.rows .row', { hasText: text }).first();
  }

  it('a refused upstream: the list names the failed leg and the TLS leg; the waterfall shows only what ran', async () => {
    const port = await refusedPort();
    const r = await curl(proxy, `https://127.0.0.1:${port}/refused-here`);
    assert.match(r.stdout, /\n502$/, r.stderr);
    const row = rowWith('/refused-here');
    await row.waitFor();
    await eventually(async () => (await row.locator('.c-status').innerText()).trim() === '✕ server', 'the failed leg in the status cell');
    assert.equal((await row.locator('.c-tls').innerText()).trim(), 'C 1.3');
    assert.match((await row.locator('.c-tls').getAttribute('title')) ?? '', /client leg/);
    await row.click();
    await page.click('[data-tab=timing]');
    const timing = page.locator('.timing');
    await timing.waitFor();
    const phases = await timing.locator('.wf-row').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-phase')}${r.getAttribute('data-failed') ? ':failed' : ''}`));
    assert.deepEqual(phases, ['tcp:failed']);
    const text = await timing.innerText();
    assert.match(text, /TCP connect failed after .*connection refused/);
    assert.doesNotMatch(text, /reused/);
    assert.deepEqual(await axeViolations(page, '.detail'), []);
  });

  it('a client that does not trust the CA: the CONNECT flow shows the request as sent, method uncut', async () => {
    const r = await run('curl', ['-sS', '--proxy', proxy.proxyUrl, '--proxy-user', 'bob:hunter2', '--max-time', '20', `https://localhost:${upstream.port}/never`]);
    assert.notEqual(r.code, 0);
    const row = rowWith(`localhost:${upstream.port}`);
    await row.waitFor();
    const method = row.locator('.c-method');
    assert.equal((await method.innerText()).trim(), 'CONNECT');
    assert.ok(await method.evaluate((el) => el.scrollWidth <= el.clientWidth), 'the method column does not cut CONNECT');
    await row.click();
    await page.click('[data-tab=request]');
    const message = page.locator('.message[data-side=request]');
    await message.waitFor();
    assert.equal((await message.locator('.start-line').innerText()).trim(), `CONNECT localhost:${upstream.port} HTTP/1.1`);
    const names = await message.locator('table.headers th, table.headers td:first-child').allInnerTexts();
    const joined = names.join(' ');
    for (const h of ['Host', 'Proxy-Authorization', 'User-Agent', 'Proxy-Connection']) assert.ok(joined.includes(h), `${h} in ${joined}`);
    const all = await message.innerText();
    assert.match(all, /Basic \[redacted\]/);
    assert.doesNotMatch(all, /Ym9iOmh1bnRlcjI=/);
    assert.deepEqual(await axeViolations(page, '.detail'), []);
    assert.deepEqual(await axeViolations(page, '.flow-table'), []);
  });

  it('copy as cURL from the keyboard: the command shown runs and reproduces the request', async () => {
    const body = `{"name":"it's $(touch x) \`id\`","n":1}`;
    const r = await curl(proxy, `http://127.0.0.1:${upstream.port}/copy-me?q=1`, ['-X', 'POST', '-H', 'Content-Type: application/json', '-H', 'X-Trace: a"b', '--data-raw', body]);
    assert.match(r.stdout, /\n200$/, r.stderr);
    const row = rowWith('/copy-me');
    await row.waitFor();
    await row.click();
    await page.locator('.detail .url', { hasText: '/copy-me' }).waitFor();
    await page.locator('body').focus();
    await page.keyboard.press('c');
    const menu = page.getByRole('menu', { name: 'Copy the request as' });
    await menu.waitFor();
    await eventually(async () => (await page.locator(':focus').getAttribute('data-format')) === 'curl', 'focus on the first item');
    assert.deepEqual(await axeViolations(page, '.copy-as'), []);
    await page.keyboard.press('Enter');
    const command = await page.locator('.copy-text').innerText();
    assert.match(command, /^curl /);
    const before = seen.length;
    const ran = await run('sh', ['-c', command.replace(/^curl/, 'curl -sS')]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(seen.length, before + 1);
    const got = seen.at(-1)!;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/copy-me?q=1');
    assert.equal(got.body, body);
    const headers = got.headers;
    assert.equal(headers[headers.findIndex((h) => h.toLowerCase() === 'x-trace') + 1], 'a"b');
    assert.deepEqual(await axeViolations(page, '.detail'), []);
  });

  it('a body search runs on the server and keeps the one flow whose gzip response holds the marker', async () => {
    for (const path of ['/gz/one', '/gz/marked', '/gz/two']) {
      const r = await curl(proxy, `http://127.0.0.1:${upstream.port}${path}`, ['--compressed']);
      assert.match(r.stdout, /\n200$/, r.stderr);
    }
    await rowWith('/gz/two').waitFor();
    const filter = page.getByRole('searchbox', { name: 'Filter flows' });
    await filter.fill(`res.body:${SEARCH_MARKER}`);
    const status = page.getByTestId('deep-search');
    await eventually(async () => /^1 flow matches in bodies and headers/.test(await status.innerText()), 'the server search result');
    await eventually(async () => (await page.locator('.rows .row').count()) === 1, 'one row left');
    assert.match(await page.locator('.rows .row .c-path').innerText(), /\/gz\/marked/);
    await filter.fill(`-res.body:${SEARCH_MARKER} path:/gz/`);
    await eventually(async () => (await page.locator('.rows .row').count()) === 2, 'negation keeps the other two');
    assert.deepEqual(await axeViolations(page, '.filter-bar'), []);
    await filter.fill('');
  });

  it('compare two flows: shift-click picks them; the JSON diff names the changed key', async () => {
    for (const path of ['/json/a', '/json/b']) {
      const r = await curl(proxy, `http://127.0.0.1:${upstream.port}${path}`, ['-H', `X-Which: ${path}`]);
      assert.match(r.stdout, /\n200$/, r.stderr);
    }
    await rowWith('/json/b').waitFor();
    await rowWith('/json/a').click();
    await rowWith('/json/b').click({ modifiers: ['Shift'] });
    const pane = page.getByRole('region', { name: 'Compare two flows' });
    await pane.waitFor();
    const changed = pane.locator('.cmp-json li[data-change=changed]');
    await changed.first().waitFor();
    assert.deepEqual(await changed.evaluateAll((els) => els.map((e) => e.getAttribute('data-path'))), ['$.price']);
    assert.match(await changed.first().innerText(), /\$\.price changed: 10 → 12/);
    const xWhich = pane.getByRole('table', { name: 'Request headers' }).locator('tr', { hasText: 'X-Which' });
    assert.equal(await xWhich.getAttribute('data-change'), 'changed');
    assert.match(await pane.getByRole('table', { name: 'Request and status' }).innerText(), /GET http:\/\/127\.0\.0\.1:\d+\/json\/a HTTP\/1\.1/);
    assert.deepEqual(await axeViolations(page, '.compare'), []);
    if (SCREENSHOTS) {
      await pane.getByRole('region', { name: 'Response body' }).scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(SCREENSHOTS, 'compare.png') });
    }
    await page.keyboard.press('Escape');
    await pane.waitFor({ state: 'detached' });
  });

  it('compare from the keyboard: x on one row, then on another', async () => {
    await rowWith('/json/a').click();
    await page.keyboard.press('Escape');
    await page.locator('.flow-table').focus();
    await page.keyboard.press('x');
    await page.getByRole('status').filter({ hasText: 'One flow picked for comparison' }).waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('x');
    await page.getByRole('region', { name: 'Compare two flows' }).waitFor();
    await page.keyboard.press('Escape');
  });

  it('the TLS ladders and the response tab of an HTTPS flow have no serious accessibility violation', async (t) => {
    const r = await curl(proxy, `https://127.0.0.1:${(await refusedPort())}/tls-a11y`);
    assert.match(r.stdout, /\n502$/, r.stderr);
    const row = rowWith('/tls-a11y');
    await row.waitFor();
    await row.click();
    for (const tab of ['response', 'tls']) {
      await page.click(`[data-tab=${tab}]`);
      await page.locator(`[data-tab=${tab}][aria-selected=true]`).waitFor();
      if (tab === 'tls') await page.locator('svg.ladder[data-leg=client] g.ev').first().waitFor();
      const violations = await axeViolations(page, '.detail');
      t.diagnostic(`${tab}: ${violations.length} serious or critical`);
      assert.deepEqual(violations, [], tab);
    }
  });
});
