/**
 * The flow list over a long session in headless Chromium: rows far back come in pages from the
 * API as the view scrolls there, the filter and the sort run on the server, column sort and
 * widths survive a reload, live rows join the end, and a paused capture shows its banner.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { FlowStore } from '../../src/capture/store.js';
import { fileSegmentIo, type SegmentIo } from '../../src/capture/session/segment-io.js';
import { makeFlow } from '../dashboard/harness.js';
import { requireTools } from '../helpers/tools.js';
import { eventually, startHarness, type Harness } from './fixtures/harness.js';

const FLOWS = 20_000;
const HOSTS = ['b.example', 'a.example', 'c.example', 'd.example'];

async function matchCount(page: Page): Promise<string> {
  return (await page.locator('[data-testid=match-count]').innerText()).trim();
}

/** Paths of the rows in the DOM, top to bottom. */
async function shownPaths(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('.rows .row:not(.loading)')]
    .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
    .map((r) => r.querySelector('.c-path').textContent)`);
}

/** The host of the list's first row, once loaded (DOM order is not list order: rows are recycled). */
async function firstRow(page: Page): Promise<string | null> {
  const row = page.locator('.rows .row[aria-rowindex="2"]:not(.loading) .c-host');
  return (await row.count()) === 0 ? null : row.innerText();
}

describe('a long flow list in Chromium', { timeout: 240_000, skip: requireTools('chromium') }, () => {
  let h: Harness;
  let dir: string;
  let store: FlowStore;
  let page: Page;
  const apiCalls: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-list-e2e-'));
    store = new FlowStore({ session: join(dir, 's') });
    for (let i = 0; i < FLOWS; i++) {
      const host = HOSTS[i % HOSTS.length]!;
      const flow = makeFlow({ url: `https://${host}/item/${i}`, status: i % 50 === 0 ? 404 : 200 });
      flow.host = host;
      store.add(flow);
    }
    await store.flushed();
    h = await startHarness(store);
    ({ page } = await h.newPage());
    page.on('request', (r) => {
      if (r.url().includes('/api/flows?')) apiCalls.push(decodeURIComponent(r.url()));
    });
    await page.goto(h.entryUrl);
    await eventually(async () => (await matchCount(page)) === '20,000 flows', 'the count of the whole session');
  });

  after(async () => {
    await h?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('opens at the newest flows and fetches pages far back as the view scrolls there', async () => {
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/19999$/ }).waitFor();
    apiCalls.length = 0;
    // The middle of the list: a jump by position.
    await page.evaluate('(() => { const el = document.querySelector(".flow-table"); el.scrollTop = 10000 * 24; })()');
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/10000$/ }).waitFor();
    assert.ok(apiCalls.some((u) => /offset=\d+/.test(u)), `a jump: ${apiCalls.join(' ')}`);
    const paths = await shownPaths(page);
    const numbers = paths.map((p) => Number(p.split('/').at(-1)));
    assert.deepEqual(numbers, numbers.map((_, i) => numbers[0]! + i), 'consecutive rows in arrival order');
    // A few screens further: the page after the window, by anchor.
    apiCalls.length = 0;
    for (let i = 0; i < 30; i++) {
      await page.mouse.move(640, 400);
      await page.mouse.wheel(0, 1200);
    }
    await eventually(async () => apiCalls.some((u) => u.includes('after=')), 'a page after the window');
    assert.ok((await page.locator('.rows .row').count()) < 120, 'only the rows in view exist in the DOM');
  });

  it('runs the filter on the server and shows N of M', async () => {
    apiCalls.length = 0;
    await page.locator('input.filter').fill('status:404 host:a.example');
    // i % 50 === 0 and i % 4 === 1 never meet; i % 50 === 0 and host b.example (i % 4 === 0) do.
    await eventually(async () => (await matchCount(page)) === '0 of 20,000', 'no match');
    await page.locator('input.filter').fill('status:404 host:b.example');
    await eventually(async () => (await matchCount(page)) === '200 of 20,000', '200 matches');
    const asked = apiCalls.map((u) => new URL(u).searchParams);
    assert.ok(asked.some((q) => q.get('filter') === 'status:404 host:b.example' && q.get('count') === '1'), apiCalls.join(' '));
    await page.evaluate('document.querySelector(".flow-table").scrollTop = 0');
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/0$/ }).waitFor();
    await page.locator('input.filter').fill('');
    await eventually(async () => (await matchCount(page)) === '20,000 flows', 'everything again');
  });

  it('sorts by a column on the server, and remembers sort and column widths across a reload', async () => {
    const host = page.locator('.row.head .c-host');
    await host.locator('button.sort').click();
    assert.equal(await host.getAttribute('aria-sort'), 'ascending');
    await page.evaluate('document.querySelector(".flow-table").scrollTop = 0');
    await eventually(async () => ((await firstRow(page)) ?? '').includes('a.example'), 'a.example first');
    assert.ok(apiCalls.some((u) => u.includes('sort=host&order=asc')), apiCalls.join(' '));
    await host.locator('button.sort').click();
    assert.equal(await host.getAttribute('aria-sort'), 'descending');
    await page.evaluate('document.querySelector(".flow-table").scrollTop = 0');
    await eventually(async () => ((await firstRow(page)) ?? '').includes('d.example'), 'd.example first');
    // Ties keep arrival order, reversed with the order: the newest d.example first.
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/19999$/ }).waitFor();

    const before = (await host.boundingBox())!.width;
    const handle = (await host.locator('.col-resize').boundingBox())!;
    await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await page.mouse.down();
    await page.mouse.move(handle.x + handle.width / 2 + 120, handle.y + handle.height / 2, { steps: 5 });
    await page.mouse.up();
    const widened = (await host.boundingBox())!.width;
    assert.ok(Math.abs(widened - (before + 120)) <= 2, `resized from ${before} to ${widened}`);

    await page.reload();
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/19999$/ }).waitFor();
    assert.equal(await page.locator('.row.head .c-host').getAttribute('aria-sort'), 'descending');
    assert.ok(Math.abs((await page.locator('.row.head .c-host').boundingBox())!.width - widened) <= 1, 'the width survives a reload');
    // Back to arrival order for the tests after this one.
    await page.locator('.row.head .c-host button.sort').click();
    assert.equal(await page.locator('.row.head .c-host').getAttribute('aria-sort'), 'none');
    await page.locator('.row.head .c-host .col-resize').dblclick();
  });

  it('appends live rows at the end while the view is at the bottom', async () => {
    await page.evaluate('(() => { const el = document.querySelector(".flow-table"); el.scrollTop = el.scrollHeight; })()');
    const flow = makeFlow({ url: 'https://x.example/item/live', status: 200 });
    store.add(flow);
    await page.locator('.rows .row .c-path', { hasText: /^\/item\/live$/ }).waitFor();
    await eventually(async () => (await matchCount(page)) === '20,001 flows', 'the new count');
  });
});

describe('a paused capture in Chromium', { timeout: 120_000, skip: requireTools('chromium') }, () => {
  let h: Harness;
  let dir: string;
  let store: FlowStore;
  let full = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-paused-e2e-'));
    const session = join(dir, 's');
    const real = fileSegmentIo(join(session, 'bodies'));
    // A disk that fills up: while `full`, every body write fails as a full disk does.
    const io: SegmentIo = {
      remove: (n) => real.remove(n),
      async open(n) {
        const file = await real.open(n);
        return {
          read: (p, l) => file.read(p, l),
          close: () => file.close(),
          writev: (b, p) => (full ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })) : file.writev(b, p)),
        };
      },
    };
    store = new FlowStore({ session, segmentIo: io });
    h = await startHarness(store);
  });

  after(async () => {
    await h?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows a banner while capture is paused and takes it down when capture resumes', async () => {
    const { page } = await h.newPage();
    await page.goto(h.entryUrl);
    await page.locator('.conn.open').waitFor();
    assert.equal(await page.locator('.capture-paused').count(), 0);
    full = true;
    store.add(makeFlow({ url: 'https://x.example/big', status: 200, responseBody: Buffer.alloc(64 * 1024, 7) }));
    const banner = page.locator('.capture-paused');
    await banner.waitFor();
    assert.match(await banner.innerText(), /^Capture paused: .*ENOSPC.*; proxying goes on$/);
    full = false;
    // The store tries again by itself and finds space.
    await banner.waitFor({ state: 'detached' });
    assert.equal(store.status.state, 'recording');
  });
});
