/**
 * The dashboard in headless Chromium against the real dashboard server and store: live rows,
 * flow details, both TLS ladders, the filter, HAR export and import, keyboard use, and that
 * hostile captured content never runs. Also writes docs/screenshots/{list,tls}.png.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import type { Flow } from '../../src/capture/flow.js';
import { FlowStore } from '../../src/capture/store.js';
import { HarRecorder } from '../../src/har/recorder.js';
import { Certificates, demoFlows, svgFlow, xssFlow } from './fixtures/flows.js';
import { eventually, startHarness, startHitCounter, type Harness, type HitCounter } from './fixtures/harness.js';
import { requireTools } from '../helpers/tools.js';
import { startFront } from './fixtures/front.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** README screenshots are refreshed only on request (MITMSCOPE_SCREENSHOTS=1), so a test run never dirties the tree. */
const SCREENSHOTS = process.env['MITMSCOPE_SCREENSHOTS'] === '1' ? join(ROOT, 'docs', 'screenshots') : null;

/** Text of every element matching `selector` (evaluated in the page; no DOM types needed here). */
function texts(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).allInnerTexts();
}

async function rowCount(page: Page): Promise<number> {
  return page.locator('.rows .row').count();
}

/** One attribute of every element `locator` matches, in document order. */
async function attributes(locator: Locator, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const el of await locator.all()) out.push((await el.getAttribute(name)) ?? '');
  return out;
}

async function matchCount(page: Page): Promise<string> {
  return (await page.locator('[data-testid=match-count]').innerText()).trim();
}

function rowFor(page: Page, path: string) {
  return page.locator('.rows .row', { has: page.locator('.c-path', { hasText: path }) }).first();
}

describe('dashboard UI in Chromium', { timeout: 180_000, skip: requireTools('chromium') }, () => {
  let h: Harness;
  let page: Page;
  let certs: Certificates;
  let flows: Flow[];
  const pageErrors: string[] = [];

  before(async () => {
    h = await startHarness();
    certs = new Certificates();
    flows = demoFlows(certs);
    ({ page } = await h.newPage());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(h.entryUrl);
    await page.locator('.flow-table').waitFor();
    await eventually(async () => (await page.locator('.conn.open').count()) === 1, 'the live feed to connect');
  });

  after(async () => {
    await h?.close();
  });

  it('moves the token from the address bar into a cookie', () => {
    assert.doesNotMatch(page.url(), /token=/);
  });

  it('shows rows live as flows are added to the store', async () => {
    assert.equal(await rowCount(page), 0);
    for (const f of flows.slice(0, 3)) h.store.add(f);
    await eventually(async () => (await rowCount(page)) === 3, 'three rows');
    for (const f of flows.slice(3)) h.store.add(f);
    await eventually(async () => (await rowCount(page)) === flows.length, 'every row');
    assert.equal(await matchCount(page), `${flows.length} flows`);
    const paths = await texts(page, '.rows .c-path');
    assert.ok(paths.includes('/v1/users?page=2'));
  });

  it('updates a pending row when its flow completes', async () => {
    const pending = flows.find((f) => f.state === 'pending')!;
    const row = rowFor(page, '/long-poll?cursor=81');
    assert.equal((await row.locator('.c-status').innerText()).trim(), '…');
    pending.response = { status: 204, statusText: 'No Content', httpVersion: '1.1', headers: [], bodySize: 0, bodyTruncated: false, body: Buffer.alloc(0), trailers: [] };
    pending.state = 'complete';
    pending.duration = 30_000;
    h.store.update(pending);
    await eventually(async () => (await row.locator('.c-status').innerText()).trim() === '204', 'status 204');
  });

  it('colours rows by status class', async () => {
    assert.match((await rowFor(page, '/v1/users/999').getAttribute('class')) ?? '', /st-client-error/);
    assert.match((await rowFor(page, '/v1/orders/42').getAttribute('class')) ?? '', /st-server-error/);
    assert.match((await rowFor(page, '/v1/login').getAttribute('class')) ?? '', /st-ok/);
  });

  it('shows request headers in wire order and the decoded, pretty-printed JSON body', async () => {
    await rowFor(page, '/v1/users?page=2').click();
    await page.locator('.detail [data-side=request]').waitFor();
    const names = await texts(page, '.detail table.headers th');
    assert.deepEqual(names.slice(0, 5), ['Host', 'User-Agent', 'Accept', 'Authorization', 'Accept-Encoding']);
    await page.click('[data-tab=response]');
    const body = page.locator('.detail pre.body-text');
    await body.waitFor();
    const text = await body.innerText();
    assert.match(text, /"name": "Ada Lovelace"/);
    assert.match(text, /^\{\n {2}"page": 2,/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.detail .body-head a:has-text("Download")')]);
    assert.equal(download.suggestedFilename(), 'users');
    assert.match(await readFile(await download.path(), 'utf8'), /^\{"page":2,"per_page":3,/);
    // Memory use in the toolbar follows the store soon after flows change.
    await eventually(async () => !(await page.locator('.toolbar .small').innerText()).startsWith('0 B'), 'the store usage to update');
    if (SCREENSHOTS) {
      await mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, 'list.png') });
    }
  });

  it('shows form bodies as fields', async () => {
    await rowFor(page, '/v1/login').click();
    await page.click('[data-tab=request]');
    const form = page.locator('.detail table.form');
    await form.waitFor();
    const cells = await texts(page, '.detail table.form tr');
    assert.ok(cells.some((c) => c.includes('password') && c.includes('correct horse')));
    assert.ok(cells.some((c) => c.includes('next') && c.includes('/dashboard')));
  });

  it('shows images from a blob URL of the fetched bytes', async () => {
    await rowFor(page, '/static/logo.png').click();
    await page.click('[data-tab=response]');
    const img = page.locator('.detail figure.image img');
    await img.waitFor();
    assert.match((await img.getAttribute('src')) ?? '', /^blob:/);
    await eventually(async () => (await page.evaluate('document.querySelector(".detail figure.image img").naturalWidth')) === 48, 'the image to decode');
  });

  it('shows binary bodies as a hex dump and notes truncation', async () => {
    await rowFor(page, '/app/update.bin').click();
    await page.click('[data-tab=response]');
    const hex = page.locator('.detail pre.hex');
    await hex.waitFor();
    assert.match(await hex.innerText(), /^00000000 {2}0b 30 55 7a/);
    await rowFor(page, '/v1/export.csv').click();
    await page.click('[data-tab=response]');
    await page.locator('.detail .banner.warn', { hasText: 'Truncated' }).waitFor();
  });

  it('draws the timing waterfall without the phases that did not happen', async () => {
    await rowFor(page, '/v1/users?page=2').click();
    await page.click('[data-tab=timing]');
    await page.locator('.waterfall').waitFor();
    assert.deepEqual(await attributes(page.locator('.wf-row'), 'data-phase'), ['blocked', 'dns', 'tcp', 'ssl', 'send', 'wait', 'receive']);
    await rowFor(page, '/health').click();
    await page.locator('.wf-row[data-phase=tcp]').waitFor();
    assert.equal(await page.locator('.wf-row[data-phase=ssl]').count(), 0);
  });

  it('shows both TLS ladders with the message names, and explains a clicked message', async () => {
    await rowFor(page, '/v1/users?page=2').click();
    await page.click('[data-tab=tls]');
    const client = page.locator('svg.ladder[data-leg=client]');
    const server = page.locator('svg.ladder[data-leg=server]');
    await client.waitFor();
    await server.waitFor();
    const clientEvents = await attributes(client.locator('g.ev'), 'data-event');
    const serverEvents = await attributes(server.locator('g.ev'), 'data-event');
    assert.deepEqual(clientEvents.slice(0, 4), ['TCPConnect', 'ClientHello', 'ServerHello', 'ChangeCipherSpec']);
    // The encrypted part of the client's TLS 1.3 handshake is decrypted with the leg's own secrets.
    assert.ok(clientEvents.includes('EncryptedExtensions') && clientEvents.includes('CertificateVerify'), clientEvents.join(', '));
    assert.ok(!clientEvents.includes('EncryptedHandshake'));
    assert.deepEqual(serverEvents.slice(0, 9), [
      'TCPConnect',
      'ClientHello',
      'ServerHello',
      'Certificate',
      'ServerKeyExchange',
      'ServerHelloDone',
      'ClientKeyExchange',
      'ChangeCipherSpec',
      'Finished',
    ]);
    // At a glance: the client leg's leaf is minted, the server leg's chain is real.
    await page.locator('.leg-overview[data-leg=client] .pill.minted', { hasText: 'minted by mitmscope' }).waitFor();
    await page.locator('.leg-overview[data-leg=server] .pill.real', { hasText: 'real' }).first().waitFor();

    await server.locator('g.ev[data-event=ServerHello]').click();
    const details = page.locator('.event-details[data-event=ServerHello]');
    await details.waitFor();
    const decomposed = await details.locator('dl.decomposed').innerText();
    for (const part of ['Key exchange', 'ECDHE', 'Authentication', 'RSA', 'Encryption', 'AES-128-GCM', 'MAC']) assert.ok(decomposed.includes(part), part);

    await server.locator('g.ev[data-event=ClientHello]').click();
    const hello = page.locator('.event-details[data-event=ClientHello]');
    await hello.waitFor();
    const helloText = await hello.innerText();
    assert.match(helloText, /Server name \(SNI\)\s+api\.example\.com/);
    assert.match(helloText, /56 cipher suites offered/);
    assert.match(helloText, /JA4\s+t12d/);

    await server.locator('g.ev[data-event=Certificate]').click();
    await page.locator('.event-details[data-event=Certificate] .cert[data-origin=real]').first().waitFor();

    // Drag the divider up so the screenshot shows the whole ladders.
    const handle = await page.locator('.resizer').boundingBox();
    assert.ok(handle);
    await page.mouse.move(handle.x + 200, handle.y + 2);
    await page.mouse.down();
    await page.mouse.move(handle.x + 200, 190, { steps: 4 });
    await page.mouse.up();
    await server.locator('g.ev[data-event=ServerHello]').click();
    // Clicking scrolled the explanation into view; the screenshot shows the ladders.
    await page.evaluate('document.querySelector(".tab-body").scrollTop = 0');
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'tls.png') });
    // Double-click restores the default split (the rows the next tests click are rendered again).
    await page.dblclick('.resizer');
    assert.doesNotMatch((await page.locator('.detail-slot').getAttribute('style')) ?? '', /height/);
  });

  it('explains what mitmscope decrypted and how each leg was secured', async () => {
    await rowFor(page, '/v1/users?page=2').click();
    await page.click('[data-tab=tls]');
    // The previous test left a message selected: go back to both legs at a glance.
    const back = page.locator('.tls-details button.link', { hasText: 'Both legs at a glance' });
    if ((await back.count()) > 0) await back.click();
    const panel = page.locator('section.secured');
    await panel.waitFor();
    // TLS 1.3 client leg: decrypted with the leg's traffic secrets; TLS 1.2 server leg: Finished verified.
    await panel.locator('ol.secured-steps[data-leg=client] li[data-step=keys][data-status=ok]', { hasText: 'HKDF-Expand-Label' }).waitFor();
    await panel.locator('ol.secured-steps[data-leg=server] li[data-step=finished][data-status=ok]', { hasText: 'recomputed' }).waitFor();
    await panel.locator('ol.secured-steps[data-leg=server] li[data-step=key-exchange]', { hasText: 'Forward secrecy' }).waitFor();
    await page.locator('svg.ladder[data-leg=client] g.ev[data-event=CertificateVerify][data-decrypted=true]').click();
    const details = page.locator('.event-details[data-event=CertificateVerify]');
    await details.locator('.pill.decrypted', { hasText: 'decrypted by mitmscope' }).waitFor();
    assert.match(await details.locator('.secured-words').innerText(), /signed the handshake so far/);
    await page.locator('svg.ladder[data-leg=server] g.ev[data-event=Finished]').last().click();
    await page.locator('.event-details[data-event=Finished] .pill.real', { hasText: 'verified' }).waitFor();
  });

  it('shows a failed handshake: the alert in red, the error and the fallback note', async () => {
    await page.locator('.rows .row', { hasText: 'legacy.example.net' }).click();
    await page.click('[data-tab=tls]');
    const alert = page.locator('svg.ladder[data-leg=server] g.ev.alarm[data-event=Alert]');
    await alert.waitFor();
    await page.locator('.leg-server .banner.error', { hasText: 'handshake_failure' }).waitFor();
    await page.locator('.leg-server .banner.warn', { hasText: 'TLS 1.3 fallback' }).waitFor();
    await alert.click();
    await page.locator('.event-details[data-event=Alert] .banner.error', { hasText: 'fatal alert: handshake_failure (40)' }).waitFor();
    await page.locator('.detail .banner.error', { hasText: 'Failed during upstream-tls' }).waitFor();
  });

  it('lists WebSocket messages, filters them into sent and received and pretty-prints JSON', async () => {
    await rowFor(page, '/prices').click();
    await page.click('[data-tab=websocket]');
    await page.locator('table.ws-messages').waitFor();
    assert.equal(await page.locator('table.ws-messages tbody tr').count(), 6);
    await page.click('.ws-head button:has-text("Sent")');
    assert.equal(await page.locator('table.ws-messages tbody tr').count(), 3);
    await page.click('.ws-head button:has-text("Received")');
    await page.locator('table.ws-messages tbody tr').first().click();
    assert.match(await page.locator('tr.ws-body pre').innerText(), /"price": 1\.0832/);
  });

  it('narrows the list with the filter and shows N of M', async () => {
    const input = page.locator('input.filter');
    await input.fill('status:>=400');
    await eventually(async () => (await matchCount(page)) === `2 of ${flows.length}`, '2 matches');
    assert.equal(await rowCount(page), 2);
    await input.fill('status:4xx');
    await eventually(async () => (await matchCount(page)) === `1 of ${flows.length}`, '1 match');
    await input.fill('host:api.example.com method:POST');
    await eventually(async () => (await matchCount(page)) === `1 of ${flows.length}`, 'the POST');
    await input.fill('type:json -host:api');
    await eventually(async () => (await matchCount(page)) === `0 of ${flows.length}`, 'no json outside api');
    await page.locator('.empty', { hasText: 'No flow matches' }).waitFor();
    // No version negotiated: the plain-HTTP flow, and the flow whose server refused every suite
    // (its server leg chose none; the client's version is not shown as the server's).
    await input.fill('tls:none');
    await eventually(async () => (await rowCount(page)) === 2, 'the plain-HTTP flow and the refused handshake');
    await page.locator('.rows .row', { hasText: 'legacy.example.net' }).waitFor();
    await input.fill('status:abc');
    await page.locator('.filter-error', { hasText: 'status:abc' }).waitFor();
    await input.fill('');
    await eventually(async () => (await matchCount(page)) === `${flows.length} flows`, 'everything again');
  });

  it('moves with arrow keys, opens with Enter, focuses the filter with /', async () => {
    await rowFor(page, '/v1/users?page=2').click();
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('.detail').count(), 0);
    await page.keyboard.press('ArrowDown');
    const selected = page.locator('.rows .row.selected');
    await selected.waitFor();
    const path = (await selected.locator('.c-path').innerText()).trim();
    assert.equal(path, '/v1/login');
    await page.keyboard.press('Enter');
    await page.locator('.detail .detail-title .url', { hasText: '/v1/login' }).waitFor();
    await page.keyboard.press('ArrowUp');
    await page.locator('.detail .detail-title .url', { hasText: '/v1/users?page=2' }).waitFor();
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('.detail').count(), 0);
    await page.keyboard.press('/');
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.classList.contains("filter")'), true);
    await page.keyboard.press('Escape');
  });

  it('holds new flows while paused and shows them on resume', async () => {
    await page.click('.toolbar button:has-text("Pause")');
    const extra = demoFlows(certs)[0]!;
    h.store.add(extra);
    await page.locator('.toolbar button', { hasText: 'Resume (1 new)' }).waitFor();
    assert.equal(await matchCount(page), `${flows.length} flows`);
    await page.click('.toolbar button:has-text("Resume")');
    await eventually(async () => (await matchCount(page)) === `${flows.length + 1} flows`, 'the held flow');
  });

  it('exports a HAR file that parses', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a:has-text("Export HAR")')]);
    const path = await download.path();
    const har = JSON.parse(await readFile(path, 'utf8')) as { log: { version: string; entries: { request: { url: string } }[] } };
    assert.equal(har.log.version, '1.2');
    assert.equal(har.log.entries.length, h.store.size);
    assert.ok(har.log.entries.some((e) => e.request.url === 'https://api.example.com/v1/users?page=2'));
  });

  it('downloads the CA certificate', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a:has-text("CA certificate")')]);
    assert.equal(download.suggestedFilename(), 'mitmscope-ca.pem');
    assert.match(await readFile(await download.path(), 'utf8'), /^-----BEGIN CERTIFICATE-----/);
  });

  it('imports a HAR file from the file picker and shows its flows', async () => {
    const res = await fetch(`${h.dashboard.url}/api/har`, { headers: { Authorization: `Bearer ${h.token}` } });
    const har = (await res.json()) as { log: { entries: { request: { url: string } }[] } };
    har.log.entries = har.log.entries.slice(0, 2).map((e, i) => ({ ...e, request: { ...e.request, url: `https://imported.example.org/page-${i}` } }));
    const before = h.store.size;
    await page.setInputFiles('[data-testid=har-input]', { name: 'capture.har', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(har)) });
    await page.locator('.notice', { hasText: 'Imported 2 flows from capture.har' }).waitFor();
    await eventually(async () => (await matchCount(page)) === `${before + 2} flows`, 'the imported flows');
    await page.locator('input.filter').fill('host:imported.example.org');
    await eventually(async () => (await rowCount(page)) === 2, 'two imported rows');
    await page.locator('input.filter').fill('');
  });

  it('imports a HAR file dropped on the page', async () => {
    const res = await fetch(`${h.dashboard.url}/api/har`, { headers: { Authorization: `Bearer ${h.token}` } });
    const har = (await res.json()) as { log: { entries: { request: { url: string } }[] } };
    har.log.entries = har.log.entries.slice(0, 1).map((e) => ({ ...e, request: { ...e.request, url: 'https://dropped.example.org/x' } }));
    const json = JSON.stringify(JSON.stringify(har));
    await page.evaluate(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([${json}], 'dropped.har', { type: 'application/json' }));
      window.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, cancelable: true }));
    })()`);
    await page.locator('.notice', { hasText: 'Imported 1 flow from dropped.har' }).waitFor();
    await page.locator('.rows .row .c-host', { hasText: 'dropped.example.org' }).waitFor();
    assert.equal(await page.locator('.drop-overlay').count(), 0);
  });

  it('reconnects by itself when the dashboard comes back, and catches up', async () => {
    const stopped = await h.stopDashboard();
    await page.locator('.conn.reconnecting').waitFor();
    const extra = demoFlows(certs)[4]!;
    h.store.add(extra);
    await stopped.resume();
    await page.locator('.conn.open').waitFor({ timeout: 20_000 });
    await eventually(async () => (await matchCount(page)) === `${h.store.size} flows`, 'the flow added while offline');
  });

  it('reports a broken HAR file instead of importing it', async () => {
    await page.setInputFiles('[data-testid=har-input]', { name: 'broken.har', mimeType: 'application/json', buffer: Buffer.from('{"log": ') });
    await page.locator('.notice.error', { hasText: 'Could not import broken.har' }).waitFor();
  });

  it('empties the list on Clear', async () => {
    await page.click('.toolbar button:has-text("Clear")');
    await eventually(async () => (await matchCount(page)) === '0 flows', 'an empty list');
    await eventually(() => h.store.size === 0, 'an empty store');
  });

  it('raised no page errors', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('a dashboard with a long history, recording to a HAR file', { timeout: 120_000, skip: requireTools('chromium') }, () => {
  let h: Harness;
  let harDir: string;
  let harPath: string;
  let recorder: HarRecorder;
  const total = 260;

  before(async () => {
    const certs = new Certificates();
    const template = demoFlows(certs)[0]!;
    harDir = await mkdtemp(join(tmpdir(), 'mitmscope-ui-har-'));
    harPath = join(harDir, 'session.har');
    // The recorder gets its own store: one flow it cannot write (no printable start time) is
    // all it needs, and the list under test keeps its 260 well-formed rows.
    const recorded = new FlowStore();
    recorder = await HarRecorder.open(harPath, { append: false, store: recorded });
    recorded.add({ ...template, id: 'unwritable', startedAt: Number.NaN });
    await recorder.close();
    h = await startHarness(undefined, { live: { snapshotMaxFlows: 100 }, recording: { path: harPath }, harStatus: () => recorder.status() });
    for (let i = 0; i < total; i++) {
      const f = { ...template, id: `flow-${i}`, request: { ...template.request, url: `https://api.example.com/item/${i}` } };
      h.store.add(f);
    }
  });

  after(async () => {
    await h?.close();
    await rm(harDir, { recursive: true, force: true });
  });

  it('fetches flows older than the live snapshot and shows every flow in arrival order, and the recording', async () => {
    const { page } = await h.newPage();
    await page.goto(h.entryUrl);
    await eventually(async () => (await matchCount(page)) === `${total} flows`, 'all flows');
    await page.evaluate('document.querySelector(".flow-table").scrollTop = 0');
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/0$/ }).waitFor();
    const first = await page.locator('.rows .row').first().locator('.c-path').innerText();
    assert.equal(first.trim(), '/item/0');
    await page.locator('.toolbar .rec', { hasText: harPath }).waitFor();
  });

  it('shows next to REC how many flows the recorder could not write, and why on hover', async () => {
    const { page } = await h.newPage();
    await page.goto(h.entryUrl);
    const problem = page.locator('.toolbar .rec .rec-problem');
    await problem.waitFor();
    assert.equal((await problem.innerText()).trim(), '· 1 not recorded');
    assert.match((await problem.getAttribute('title')) ?? '', /flow unwritable\) could not be written as a HAR entry/);
  });

  it('says so when a page of the list cannot be loaded instead of showing a silent hole, and loads it on Retry', async () => {
    const front = await startFront(h.dashboard.url);
    try {
      const { page } = await h.newPage();
      await page.goto(`${front.url}/?token=${h.token}`);
      // The live snapshot holds the newest 100: the list knows its length and shows the end.
      await eventually(async () => (await matchCount(page)) === `${total} flows`, 'the count');
      await page.locator('.rows .row .c-path', { hasText: /^\/item\/259$/ }).waitFor();
      await page.click('[aria-pressed=true]:has-text("Auto-scroll")');
      await page.evaluate('document.querySelector(".flow-table").scrollTop = 0');
      const notice = page.locator('.notice.error', { hasText: /Could not load flows 1–\d+ \(502 Bad Gateway\)/ });
      await notice.waitFor();
      assert.ok(front.refused >= 1);
      // The rows not loaded show as placeholders once the view has moved there.
      await page.locator('.rows .row.loading[aria-rowindex="2"]').waitFor();
      front.failOlderPages = false;
      await notice.locator('button', { hasText: 'Retry' }).click();
      await page.locator('.rows .row .c-path', { hasText: /^\/item\/0$/ }).waitFor();
      assert.equal(await page.locator('.notice.error').count(), 0);
    } finally {
      await front.close();
    }
  });
});

describe('hostile captured content', { timeout: 120_000, skip: requireTools('chromium') }, () => {
  let h: Harness;
  let hits: HitCounter;

  before(async () => {
    h = await startHarness();
    hits = await startHitCounter();
  });

  after(async () => {
    await h?.close();
    await hits?.close();
  });

  /** Opens every tab of every flow, every body view, every ladder message and WebSocket message. */
  async function visitEverything(page: Page): Promise<void> {
    const rows = await page.locator('.rows .row').count();
    for (let r = 0; r < rows; r++) {
      await page.locator('.rows .row').nth(r).click();
      await page.locator('.detail .tabs').waitFor();
      for (const tab of await attributes(page.locator('.detail .tab'), 'data-tab')) {
        await page.click(`[data-tab=${tab}]`);
        for (const view of ['Raw', 'Hex', 'Pretty', 'Image']) {
          const button = page.locator(`.segmented[aria-label="Body view"] button:has-text("${view}")`);
          if ((await button.count()) > 0) await button.first().click();
        }
        const events = page.locator('svg.ladder g.ev');
        for (let i = 0; i < (await events.count()); i++) await events.nth(i).click();
        const messages = page.locator('table.ws-messages tbody tr:not(.ws-body)');
        for (let i = 0; i < (await messages.count()); i++) await messages.nth(i).click();
        const suites = page.locator('details.suites summary');
        for (let i = 0; i < (await suites.count()); i++) await suites.nth(i).click();
      }
    }
    // Give handlers a moment: an onerror or onload would fire by now.
    await page.waitForTimeout(500);
  }

  const DANGEROUS = `[
    document.querySelectorAll('script:not([src])').length,
    document.querySelectorAll('iframe, object, embed').length,
    document.querySelectorAll('img[src="x"], [onerror], [onload], [onclick]').length,
    document.querySelectorAll('[href^="javascript:" i], [src^="javascript:" i]').length,
    document.querySelectorAll('#app svg:not(.ladder) script, #app svg:not(.ladder)').length,
  ]`;

  for (const csp of [true, false]) {
    it(`runs nothing from a flow's URL, headers, body, TLS details or WebSocket data ${csp ? 'with the CSP' : 'even with the CSP bypassed'}`, async () => {
      const certs = new Certificates();
      const { page } = await h.newPage({ bypassCSP: !csp });
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.addInitScript('window.__violations = []; document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective + " " + e.blockedURI));');
      h.store.clear();
      await page.goto(h.entryUrl);
      await page.locator('.flow-table').waitFor();
      h.store.add(xssFlow(certs, hits.url));
      h.store.add(svgFlow(certs, hits.url));
      await eventually(async () => (await rowCount(page)) === 2, 'the hostile rows');
      await visitEverything(page);
      assert.deepEqual(hits.hits, []);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(await page.evaluate(DANGEROUS), [0, 0, 0, 0, 0]);
      assert.deepEqual(await page.evaluate('window.__violations'), []);
      // The payloads are there, as text.
      await page.locator('.rows .row').first().click();
      await page.click('[data-tab=request]');
      await page.locator('.detail table.headers td', { hasText: '<img src=x onerror=' }).first().waitFor();
    });
  }
});
