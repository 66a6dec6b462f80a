/**
 * Dashboard fluidity at 100,000 flows: fills a store, opens the dashboard in headless Chromium,
 * waits for every row to load, then scrolls, filters and takes live inserts while a
 * PerformanceObserver collects the page's long tasks (main-thread work over 50 ms). Prints the
 * longest task per phase; asserts nothing.
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

export const BENCH_FLOWS = 100_000;
const CHROMIUM_PATH = '/usr/bin/chromium';
/** Chromium refuses to run as root without --no-sandbox; the rest stop it phoning home. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const LOAD_TIMEOUT_MS = 120_000;
const WHEEL_STEPS = 60;
const WHEEL_PX = 1500;
const JUMPS = 30;
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

export function syntheticFlows(n: number, start = Date.now() - n * 10): Flow[] {
  const conns = connections();
  const out: Flow[] = [];
  for (let i = 0; i < n; i++) {
    const host = HOSTS[i % HOSTS.length]!;
    const url = `https://${host}/v1/items/${i}?page=${i % 50}&sort=desc`;
    const request = emptyRequest(METHODS[i % METHODS.length]!, url);
    request.headers = [['Host', host], ['Accept', '*/*']];
    const flow = createFlow({ kind: 'http', scheme: 'https', host, port: 443, request, clientConnection: null, startedAt: start + i * 10 });
    const status = STATUSES[(i * 7) % STATUSES.length]!;
    flow.response = {
      status,
      statusText: 'OK',
      httpVersion: '1.1',
      headers: [['Content-Type', TYPES[(i * 3) % TYPES.length]!]],
      bodySize: (i * 137) % 50_000,
      bodyTruncated: false,
      body: Buffer.alloc(0),
      trailers: [],
    };
    flow.serverConnection = conns.get(`${host}/${i % 3 === 0 ? 'TLSv1.3' : 'TLSv1.2'}`)!;
    flow.state = 'complete';
    flow.duration = 5 + ((i * 31) % 900);
    out.push(flow);
  }
  return out;
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

async function waitForCount(page: Page, text: string): Promise<void> {
  const until = Date.now() + LOAD_TIMEOUT_MS;
  while ((await countText(page)) !== text) {
    if (Date.now() > until) throw new Error(`the list never showed "${text}" (shows "${await countText(page)}")`);
    await page.waitForTimeout(25);
  }
}

/** One animation frame in the page, so scroll handlers and renders run between steps. */
function frame(page: Page): Promise<unknown> {
  return page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
}

function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export interface UiBenchResult {
  flows: number;
  /** Page open → every row loaded (snapshot, then older pages over REST). */
  loadMs: number;
  longestLoadTaskMs: number;
  longestScrollTaskMs: number;
  longestFilterTaskMs: number;
  longestLiveTaskMs: number;
  /** The longest task once loaded: scrolling, filtering and live inserts; 0 = none over 50 ms (the longtask threshold). */
  longestTaskMs: number;
  longTasksAfterLoad: number;
}

export async function benchUi(flowCount = BENCH_FLOWS): Promise<UiBenchResult> {
  const { outDir } = await buildUi();
  const store = new FlowStore();
  for (const f of syntheticFlows(flowCount)) store.add(f);
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-ui-'));
  const caFiles = { pem: join(dir, 'ca.pem'), cer: join(dir, 'ca.cer'), p12: join(dir, 'ca.p12') };
  for (const file of Object.values(caFiles)) await writeFile(file, '');
  const token = randomBytes(16).toString('hex');
  const dashboard = await startDashboard({ store, host: '127.0.0.1', port: 0, token, uiHosts: [], caFiles, uiDir: outDir });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript(OBSERVE_LONG_TASKS);
    const t0 = Date.now();
    await page.goto(`${dashboard.url}/?token=${token}`);
    await waitForCount(page, `${formatCount(flowCount)} flows`);
    const loadMs = Date.now() - t0;
    await frame(page);
    const loadTasks = await takeLongTasks(page);

    // Scroll: wheel through the list, then jump around it.
    await page.click('[aria-pressed=true]:has-text("Auto-scroll")');
    const table = await page.locator('.flow-table').boundingBox();
    if (!table) throw new Error('no flow table');
    await page.mouse.move(table.x + table.width / 2, table.y + table.height / 2);
    await page.evaluate('document.querySelector(".flow-table").scrollTop = 0');
    for (let i = 0; i < WHEEL_STEPS; i++) {
      await page.mouse.wheel(0, WHEEL_PX);
      await frame(page);
    }
    for (let i = 0; i < JUMPS; i++) {
      const at = ((i * 7919) % JUMPS) / JUMPS;
      await page.evaluate(`(() => { const el = document.querySelector(".flow-table"); el.scrollTop = el.scrollHeight * ${at}; })()`);
      await frame(page);
    }
    const scrollTasks = await takeLongTasks(page);

    // Filter: typed key by key as a person would, then cleared.
    const filter = page.locator('input.filter');
    await filter.click();
    await page.keyboard.type('host:api status:>=400', { delay: 40 });
    await page.waitForTimeout(300);
    await page.keyboard.press('Control+A');
    await page.keyboard.type('type:json -host:cdn', { delay: 40 });
    await page.waitForTimeout(300);
    await page.keyboard.press('Control+A');
    await page.keyboard.type('items/4242', { delay: 40 });
    await page.waitForTimeout(300);
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await waitForCount(page, `${formatCount(flowCount)} flows`);
    const filterTasks = await takeLongTasks(page);

    // Live: new flows in bursts while the list tails them.
    await page.click('button:has-text("Auto-scroll")');
    const live = syntheticFlows(LIVE_FLOWS);
    for (let i = 0; i < live.length; i += LIVE_BURST) {
      for (const f of live.slice(i, i + LIVE_BURST)) store.add(f);
      await page.waitForTimeout(20);
    }
    await waitForCount(page, `${formatCount(flowCount + LIVE_FLOWS)} flows`);
    await frame(page);
    const liveTasks = await takeLongTasks(page);

    const max = (xs: number[]) => Math.round(xs.reduce((m, x) => Math.max(m, x), 0));
    const after = [...scrollTasks, ...filterTasks, ...liveTasks];
    return {
      flows: flowCount,
      loadMs,
      longestLoadTaskMs: max(loadTasks),
      longestScrollTaskMs: max(scrollTasks),
      longestFilterTaskMs: max(filterTasks),
      longestLiveTaskMs: max(liveTasks),
      longestTaskMs: max(after),
      longTasksAfterLoad: after.length,
    };
  } finally {
    await browser.close();
    await dashboard.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The longtask API reports only tasks over 50 ms: 0 means none was that long. */
function task(ms: number): string {
  return ms === 0 ? '<50 ms' : `${ms} ms`;
}

export function printUiBench(r: UiBenchResult): void {
  const lines = [
    `ui: ${formatCount(r.flows)} flows loaded in ${r.loadMs} ms (longest task while loading ${task(r.longestLoadTaskMs)})`,
    `ui: longest task scrolling ${task(r.longestScrollTaskMs)}, filtering ${task(r.longestFilterTaskMs)}, live inserts ${task(r.longestLiveTaskMs)}`,
    `ui: longest task after load ${task(r.longestTaskMs)} (${r.longTasksAfterLoad} tasks over 50 ms)`,
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
