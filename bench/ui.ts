/**
 * Dashboard fluidity over a session of 1,000,000 flows: writes them through the store's own API,
 * opens the dashboard in headless Chromium, scrolls to the middle and around, filters, sorts and
 * takes live inserts while a PerformanceObserver collects the page's long tasks (main-thread work
 * over 50 ms). Prints the timings and the longest task per phase (the target is under 200 ms);
 * asserts nothing.
 *
 *   node --import tsx bench/ui.ts [flows]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { createFlow, emptyHandshake, emptyRequest, type Connection, type Flow } from '../src/capture/flow.js';
import { FlowStore } from '../src/capture/store.js';
import { startDashboard } from '../src/dashboard/server.js';
import { buildUi } from '../ui/build.js';

export const BENCH_FLOWS = 1_000_000;
const CHROMIUM_PATH = '/usr/bin/chromium';
/** Chromium refuses to run as root without --no-sandbox; the rest stop it phoning home. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const LOAD_TIMEOUT_MS = 120_000;
const WHEEL_STEPS = 40;
const WHEEL_PX = 1500;
const JUMPS = 12;
/** Flows added between waits for the store's writes, as traffic would arrive. */
const WRITE_BATCH = 5000;
/** Room for a million small flows and their indexes (the default budget is 2 GiB too). */
const SESSION_BYTES = 4 * 1024 ** 3;
const FILTERS = ['host:api status:>=400', 'type:json -host:cdn', 'items/4242'];
const LIVE_FLOWS = 3000;
const LIVE_BURST = 100;

const HOSTS = ['api.example.com', 'cdn.example.com', 'www.example.com', 'auth.example.net', 'metrics.example.org', 'img.example.com'];
const TYPES = ['application/json; charset=utf-8', 'text/html; charset=utf-8', 'image/png', 'application/javascript', 'text/css', 'application/octet-stream'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const STATUSES = [200, 200, 200, 200, 204, 301, 304, 404, 500, 502];

/** Connections are shared the way keep-alive shares them: one per host and TLS version. */
function connections(): Map<string, Connection> {
  const map = new Map<string, Connection>();
  for (const host of HOSTS) {
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      const tls = emptyHandshake();
      tls.version = version;
      map.set(`${host}/${version}`, { id: `${host}/${version}`, side: 'server', address: '203.0.113.7', port: 443, host, openedAt: Date.now(), closedAt: null, tls });
    }
  }
  return map;
}

const CONNECTIONS = connections();

/** Flow number `i` of a synthetic session: hosts, types, statuses, sizes and durations repeat. */
export function syntheticFlow(i: number, start: number): Flow {
  const host = HOSTS[i % HOSTS.length]!;
  const url = `https://${host}/v1/items/${i}?page=${i % 50}&sort=desc`;
  const request = emptyRequest(METHODS[i % METHODS.length]!, url);
  request.headers = [['Host', host], ['Accept', '*/*']];
  const flow = createFlow({ kind: 'http', scheme: 'https', host, port: 443, request, clientConnection: null, startedAt: start + i * 10 });
  flow.response = {
    status: STATUSES[(i * 7) % STATUSES.length]!,
    statusText: 'OK',
    httpVersion: '1.1',
    headers: [['Content-Type', TYPES[(i * 3) % TYPES.length]!]],
    bodySize: (i * 137) % 50_000,
    bodyTruncated: false,
    body: Buffer.alloc(0),
    trailers: [],
  };
  flow.serverConnection = CONNECTIONS.get(`${host}/${i % 3 === 0 ? 'TLSv1.3' : 'TLSv1.2'}`)!;
  flow.state = 'complete';
  flow.duration = 5 + ((i * 31) % 900);
  return flow;
}

/** Installed before the page's own script: records every long task with its start time. */
const OBSERVE_LONG_TASKS = `
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: true });
`;

async function takeLongTasks(page: Page): Promise<number[]> {
  return page.evaluate<number[]>('(() => { const t = window.__longTasks; window.__longTasks = []; return t; })()');
}

async function countText(page: Page): Promise<string> {
  return (await page.locator('[data-testid=match-count]').innerText()).trim();
}

/** Waits in the page (no polling from here) until `expression` is true. */
async function waitInPage(page: Page, expression: string): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout: LOAD_TIMEOUT_MS, polling: 'raf' });
}

/** Every row in view is loaded (no placeholder left). */
const ROWS_LOADED = `document.querySelectorAll('.rows .row').length > 0 && document.querySelectorAll('.rows .row.loading').length === 0`;

function countIs(text: string): string {
  return `document.querySelector('[data-testid=match-count]')?.textContent.trim() === ${JSON.stringify(text)}`;
}

function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function maxOf(xs: readonly number[]): number {
  return Math.round(xs.reduce((m, x) => Math.max(m, x), 0));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] ?? 0);
}

export interface UiBenchResult {
  flows: number;
  writeMs: number;
  /** Page open → the count of the whole session and the newest rows shown. */
  loadMs: number;
  /** The page's JavaScript heap once loaded (Chromium's performance.memory). */
  heapMiB: number | null;
  /** Scrolled to the middle → every row in view shown. */
  middleMs: number;
  /** Jumps to random places: median and worst time until the rows show. */
  jumpMedianMs: number;
  jumpMaxMs: number;
  /** The last key of each filter → its matched count and rows shown (each includes the debounce). */
  filterMs: { expression: string; ms: number; matched: string }[];
  /** A header click → the sorted rows shown. */
  sortMs: { what: string; ms: number }[];
  phases: { phase: string; longestTaskMs: number; tasks: number }[];
  longestTaskMs: number;
}

export async function benchUi(flowCount = BENCH_FLOWS): Promise<UiBenchResult> {
  const { outDir } = await buildUi();
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-ui-'));
  const store = new FlowStore({ session: join(dir, 'session'), maxBytes: SESSION_BYTES });
  const caFiles = { pem: join(dir, 'ca.pem'), cer: join(dir, 'ca.cer'), p12: join(dir, 'ca.p12') };
  for (const file of Object.values(caFiles)) await writeFile(file, '');
  const token = randomBytes(16).toString('hex');
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | null = null;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    const start = Date.now() - flowCount * 10;
    let t0 = performance.now();
    for (let i = 0; i < flowCount; i++) {
      store.add(syntheticFlow(i, start));
      if (i % WRITE_BATCH === WRITE_BATCH - 1) await store.flushed();
    }
    await store.flushed();
    const writeMs = performance.now() - t0;
    process.stdout.write(`ui: ${formatCount(flowCount)} flows written through the store in ${(writeMs / 1000).toFixed(1)} s\n`);

    dashboard = await startDashboard({ store, host: '127.0.0.1', port: 0, token, uiHosts: [], caFiles, uiDir: outDir });
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    // The bench's waits are expressions evaluated in the page, which the dashboard's CSP (no eval) would refuse.
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
    await page.addInitScript(OBSERVE_LONG_TASKS);
    const phases: UiBenchResult['phases'] = [];
    const phase = async (name: string) => {
      const tasks = await takeLongTasks(page);
      phases.push({ phase: name, longestTaskMs: maxOf(tasks), tasks: tasks.length });
    };

    t0 = performance.now();
    await page.goto(`${dashboard.url}/?token=${token}`);
    await waitInPage(page, countIs(`${formatCount(flowCount)} flows`));
    await page.locator('.rows .row .c-path', { hasText: `/v1/items/${flowCount - 1}?` }).waitFor({ timeout: LOAD_TIMEOUT_MS });
    const loadMs = performance.now() - t0;
    const heap = await page.evaluate<number | null>('performance.memory ? performance.memory.usedJSHeapSize : null');
    await phase('open');

    // Scroll: stop tailing, wheel up through the newest rows, then to the middle and around.
    await page.click('[aria-pressed=true]:has-text("Auto-scroll")');
    const table = await page.locator('.flow-table').boundingBox();
    if (!table) throw new Error('no flow table');
    await page.mouse.move(table.x + table.width / 2, table.y + table.height / 2);
    for (let i = 0; i < WHEEL_STEPS; i++) await page.mouse.wheel(0, -WHEEL_PX);
    await waitInPage(page, ROWS_LOADED);
    t0 = performance.now();
    await page.evaluate('(() => { const el = document.querySelector(".flow-table"); el.scrollTop = (el.scrollHeight - el.clientHeight) / 2; })()');
    await waitInPage(page, ROWS_LOADED);
    const middleMs = performance.now() - t0;
    const jumps: number[] = [];
    for (let i = 0; i < JUMPS; i++) {
      const at = ((i * 7919) % JUMPS) / JUMPS;
      t0 = performance.now();
      await page.evaluate(`(() => { const el = document.querySelector(".flow-table"); el.scrollTop = (el.scrollHeight - el.clientHeight) * ${at}; })()`);
      await waitInPage(page, ROWS_LOADED);
      jumps.push(performance.now() - t0);
    }
    await page.evaluate('(() => { const el = document.querySelector(".flow-table"); el.scrollTop = (el.scrollHeight - el.clientHeight) / 2; })()');
    await waitInPage(page, ROWS_LOADED);
    await phase('scroll');

    // Filter from the middle, typed key by key as a person would, then cleared.
    const filterMs: UiBenchResult['filterMs'] = [];
    const filter = page.locator('input.filter');
    for (const expression of FILTERS) {
      await filter.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.press('Backspace');
      await waitInPage(page, countIs(`${formatCount(flowCount)} flows`));
      const answered = page.waitForResponse((r) => {
        const q = new URL(r.url()).searchParams;
        return r.url().includes('/api/flows?') && q.get('filter') === expression && q.get('count') === '1';
      }, { timeout: LOAD_TIMEOUT_MS });
      await page.keyboard.type(expression, { delay: 40 });
      t0 = performance.now();
      await answered;
      await waitInPage(page, `${ROWS_LOADED} || !!document.querySelector('.empty')`);
      filterMs.push({ expression, ms: performance.now() - t0, matched: await countText(page) });
    }
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await waitInPage(page, countIs(`${formatCount(flowCount)} flows`));
    await waitInPage(page, ROWS_LOADED);
    await phase('filter');

    // Sort by status (no index: the reader thread reads every row), descending, then back.
    const sortMs: UiBenchResult['sortMs'] = [];
    for (const what of ['status ascending', 'status descending', 'arrival order']) {
      const firstPath = await page.evaluate<string>(`document.querySelector('.rows .row[aria-rowindex="2"] .c-path')?.textContent ?? ''`);
      t0 = performance.now();
      await page.click('.row.head .c-status button.sort');
      await waitInPage(page, `${ROWS_LOADED} && (document.querySelector('.rows .row[aria-rowindex="2"] .c-path')?.textContent ?? '') !== ${JSON.stringify(firstPath)}`);
      sortMs.push({ what, ms: performance.now() - t0 });
    }
    await phase('sort');

    // Live: new flows in bursts while the list tails them.
    // Back in arrival order the list tails again; make sure it does.
    const tailing = page.locator('button[aria-pressed=false]:has-text("Auto-scroll")');
    if ((await tailing.count()) > 0) await tailing.click();
    for (let i = 0; i < LIVE_FLOWS; i += LIVE_BURST) {
      for (let j = i; j < i + LIVE_BURST; j++) store.add(syntheticFlow(flowCount + j, Date.now()));
      await store.flushed();
    }
    await waitInPage(page, countIs(`${formatCount(flowCount + LIVE_FLOWS)} flows`));
    await page.locator('.rows .row .c-path', { hasText: `/v1/items/${flowCount + LIVE_FLOWS - 1}?` }).waitFor({ timeout: LOAD_TIMEOUT_MS });
    await phase('live');

    const after = phases.filter((p) => p.phase !== 'open');
    return {
      flows: flowCount,
      writeMs,
      loadMs,
      heapMiB: heap === null ? null : heap / 1024 / 1024,
      middleMs,
      jumpMedianMs: median(jumps),
      jumpMaxMs: maxOf(jumps),
      filterMs,
      sortMs,
      phases,
      longestTaskMs: maxOf(after.map((p) => p.longestTaskMs)),
    };
  } finally {
    await browser?.close();
    await dashboard?.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const PHASE_WORDS: Record<string, string> = { open: 'opening', scroll: 'scrolling', filter: 'filtering', sort: 'sorting', live: 'taking live flows' };

/** The longtask API reports only tasks over 50 ms: 0 means none was that long. */
function task(ms: number): string {
  return ms === 0 ? '<50 ms' : `${ms} ms`;
}

export function printUiBench(r: UiBenchResult): void {
  const lines = [
    `ui: opened in ${Math.round(r.loadMs)} ms (count of ${formatCount(r.flows)} and the newest rows shown); page heap ${r.heapMiB === null ? 'n/a' : `${r.heapMiB.toFixed(1)} MiB`}`,
    `ui: middle of the list shown ${Math.round(r.middleMs)} ms after the jump; ${JUMPS} jumps: median ${r.jumpMedianMs} ms, worst ${r.jumpMaxMs} ms`,
    ...r.filterMs.map((f) => `ui: filter "${f.expression}" → ${f.matched} in ${Math.round(f.ms)} ms after the last key (with the debounce)`),
    ...r.sortMs.map((s) => `ui: sort by ${s.what}: rows shown in ${Math.round(s.ms)} ms`),
    ...r.phases.map((p) => `ui: longest task while ${PHASE_WORDS[p.phase] ?? p.phase}: ${task(p.longestTaskMs)} (${p.tasks} over 50 ms)`),
    `ui: longest task after opening ${task(r.longestTaskMs)} (target under 200 ms)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const n = process.argv[2] === undefined ? BENCH_FLOWS : Number(process.argv[2]);
  benchUi(n).then(printUiBench, (err: unknown) => {
    process.stderr.write(`ui bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
